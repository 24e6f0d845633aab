import Database
import EvenTicketApp
import EvenTicketTesting
import Testing

/// The suite's databases do not outlive their tests (on a `DATABASE_URL` server, they did).
@Suite("Test databases", .timeLimit(.minutes(1)))
struct TestDatabasesTests {
    @Test func aTestsDatabaseIsDroppedOnceItsTestEnds() async throws {
        let first = try await TestDatabases.shared.withDatabase { url in url.database }
        try await TestDatabases.shared.withDatabase { url in
            let logger = TestLogger.make()
            try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, maximumConnections: 2) { client in
                let left = try await TestSystem.scalar("SELECT count(*)::int FROM pg_database WHERE datname = \(first)", client: client, logger: logger)
                #expect(left == 0, "\(first) is still there")
                let own = try await TestSystem.scalar("SELECT count(*)::int FROM pg_database WHERE datname = \(url.database)", client: client, logger: logger)
                #expect(own == 1)
            }
        }
    }
}
