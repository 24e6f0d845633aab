import Database
import Foundation
import PostgresNIO
import Testing

@Suite("DATABASE_URL parsing")
struct DatabaseURLTests {
    @Test func tcpURLWithEverything() throws {
        let url = try DatabaseURL("postgres://alice:s%40cret@db.example:6543/tickets?sslmode=require")
        #expect(url.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(url.username == "alice")
        #expect(url.password == "s@cret")
        #expect(url.database == "tickets")
        #expect(url.sslMode == .require)
        #expect(!url.description.contains("s@cret"), "the password must not be printed")
    }

    @Test func defaultsForAMinimalURL() throws {
        let url = try DatabaseURL("postgresql://bob@localhost")
        #expect(url.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(url.database == "bob")
        #expect(url.password == nil)
        #expect(url.sslMode == .prefer)
    }

    @Test func unixSocketHostInQueryOrEncodedHost() throws {
        let query = try DatabaseURL("postgres://postgres@/eventicket?host=/tmp/pg&port=5433")
        #expect(query.endpoint == .unixSocket(path: "/tmp/pg/.s.PGSQL.5433"))
        let encoded = try DatabaseURL("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/eventicket")
        #expect(encoded.endpoint == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
    }

    @Test(arguments: ["mysql://x@y/z", "not a url", "postgres://u@h/db?sslmode=sometimes", "postgres://u@h:70000/db"])
    func rejectsBadURLs(_ text: String) {
        #expect(throws: DatabaseURLError.self) { try DatabaseURL(text) }
    }
}

@Suite("Session names", .timeLimit(.minutes(3)))
struct SessionNameTests {
    @Test func aPoolsSessionsNameTheirProgramAndProcessIDInPgStatActivity() async throws {
        try await TestSystem.withDatabase { client, logger in
            var names: [String] = []
            for try await name in try await client.query("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()", logger: logger)
                .decode(String.self) { names.append(name) }
            #expect(names == [DatabaseURL.applicationName])
            #expect(names.first?.hasSuffix(" \(ProcessInfo.processInfo.processIdentifier)") == true, "\(names)")
        }
    }
}
