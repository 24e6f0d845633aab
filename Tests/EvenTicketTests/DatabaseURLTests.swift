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

    @Test func userAndPasswordAreDecodedOnce() throws {
        // `50%off` is sent as `50%25off`; decoded twice it failed (`%of` is no escape) and the
        // password was lost. `a%41b`, sent as `a%2541b`, became `aAb`.
        let percent = try DatabaseURL("postgres://al%25ice:50%25off@db.example/tickets")
        #expect(percent.username == "al%ice")
        #expect(percent.password == "50%off")
        let escape = try DatabaseURL("postgres://alice:a%2541b@db.example/tickets")
        #expect(escape.password == "a%41b")
    }

    @Test func anIPv6HostLosesItsBrackets() throws {
        let url = try DatabaseURL("postgres://alice@[2001:db8::1]:6543/tickets")
        #expect(url.endpoint == .tcp(host: "2001:db8::1", port: 6543))
        #expect(url.description == "postgres://alice@[2001:db8::1]:6543/tickets")
        #expect(try DatabaseURL("postgres://alice@[::1]/tickets").endpoint == .tcp(host: "::1", port: 5432))
    }

    @Test func sslModesAndTheTrustedAuthorities() throws {
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=disable").tlsConfiguration == nil)
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=allow").tlsConfiguration == nil)
        // As libpq: `prefer` takes TLS without checking the certificate (a self-signed one answers).
        #expect(try DatabaseURL("postgres://u@h/db").tlsConfiguration?.certificateVerification == CertificateVerification.none)
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=verify-ca").tlsConfiguration?.certificateVerification == .noHostnameVerification)
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=require").tlsConfiguration?.certificateVerification == .fullVerification)
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=verify-full").tlsConfiguration?.certificateVerification == .fullVerification)
        let ownCA = try DatabaseURL("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
        #expect(ownCA.sslRootCert == "/etc/ssl/db-ca.pem")
        #expect(ownCA.tlsConfiguration?.trustRoots == .file("/etc/ssl/db-ca.pem"))
        #expect(try DatabaseURL("postgres://u@h/db?sslmode=require&sslrootcert=system").tlsConfiguration?.trustRoots == .default)
    }

    @Test func harmlessLibpqParametersAreAcceptedAndNamedAsNotApplied() throws {
        // As providers' connection strings carry them: they connected before, and still do.
        let url = try DatabaseURL("postgres://u@h/?dbname=shop&application_name=app&connect_timeout=10&sslmode=require")
        #expect(url.database == "shop")
        #expect(url.sslMode == .require)
        #expect(url.ignoredParameters == ["application_name", "connect_timeout"])
        #expect(try DatabaseURL("postgres://u@h/db").ignoredParameters.isEmpty)
        // Values that ask for no more than the program does.
        let defaults = try DatabaseURL("postgres://u@h/db?channel_binding=prefer&gssencmode=disable&target_session_attrs=any")
        #expect(defaults.ignoredParameters == ["channel_binding", "gssencmode", "target_session_attrs"])
    }

    @Test(arguments: ["mysql://x@y/z", "not a url", "postgres://u@h/db?sslmode=sometimes", "postgres://u@h:70000/db",
                      // A misspelt or unknown parameter (it was ignored: sslMode=verify-full connected unchecked), a port that is not a number.
                      "postgres://u@h/db?sslMode=verify-full", "postgres://u@h/db?ssl=true", "postgres://u@h/db?port=abc",
                      // libpq parameters whose absence would not be what was asked for.
                      "postgres://u@h/db?channel_binding=require", "postgres://u@h/db?sslcert=/c.pem&sslkey=/k.pem",
                      "postgres://u@h/db?target_session_attrs=read-write", "postgres://u@h/db?gssencmode=require"])
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
