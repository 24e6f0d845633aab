import Database
import EvenTicketApp
import EvenTicketTesting
import Testing

/// What a process says when it cannot use its database: the server's own words for a mistake
/// that will not fix itself, the last attempt's error for a server that does not answer.
@Suite("Reaching the database", .timeLimit(.minutes(2)))
struct DatabaseReachTests {
    static func failure(of url: DatabaseURL, reachTimeout: Duration) async throws -> String? {
        do {
            try await EvenTicketSystem.withDatabase(url, logger: TestLogger.make(), migrate: false, reachTimeout: reachTimeout) { _ in }
            return nil
        } catch let error as DatabaseUnreachable {
            return error.reason
        }
    }

    @Test func aMissingDatabaseIsReportedInTheServersWords() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            // Before, the pool retried this quietly and the reason was the timeout.
            let reason = try await Self.failure(of: url.with(database: "no_such_database"), reachTimeout: .seconds(60))
            #expect(reason?.contains(#"3D000: database "no_such_database" does not exist"#) == true, "\(reason ?? "reached")")
        }
    }

    @Test func aServerThatDoesNotAnswerIsReportedWithTheLastAttemptsError() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            var closed = url
            closed.endpoint = .tcp(host: "127.0.0.1", port: 1) // nothing listens on port 1
            let reason = try await Self.failure(of: closed, reachTimeout: .seconds(2))
            #expect(reason?.contains("no answer within") == true, "\(reason ?? "reached")")
            #expect(reason?.contains("the last attempt") == true, "\(reason ?? "reached")")
        }
    }
}
