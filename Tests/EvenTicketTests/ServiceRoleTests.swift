import Database
import EvenTicketApp
import EvenTicketTesting
import Logging
import Ordering
import PostgresNIO
import Testing

/// Each service acts as a PostgreSQL role that reaches only its own schema and the bus.
@Suite("Service roles", .timeLimit(.minutes(3)))
struct ServiceRoleTests {
    /// Runs `query` as `role` and returns the SQLSTATE it failed with, or nil when it succeeded.
    static func sqlState(of query: PostgresQuery, as role: Role, url: DatabaseURL, logger: Logger) async throws -> String? {
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 1, role: role.databaseRole), backgroundLogger: logger)
        return await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                _ = try await client.query(query, logger: logger).collect()
                return nil
            } catch {
                return error.sqlState ?? "client error: \(error)"
            }
        }
    }

    static let insufficientPrivilege = "42501"

    @Test func paymentCannotReadOrWriteInventory() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            let logger = TestLogger.make()
            #expect(try await Self.sqlState(of: "SELECT count(*) FROM inventory.ticket_types", as: .payment, url: url, logger: logger) == Self.insufficientPrivilege)
            #expect(try await Self.sqlState(of: "UPDATE inventory.ticket_types SET available = 0", as: .payment, url: url, logger: logger) == Self.insufficientPrivilege)
            #expect(try await Self.sqlState(of: "SELECT count(*) FROM inventory.reservations", as: .payment, url: url, logger: logger) == Self.insufficientPrivilege)
            // Its own tables and the bus are fine.
            #expect(try await Self.sqlState(of: "SELECT count(*) FROM payment.charges", as: .payment, url: url, logger: logger) == nil)
            #expect(try await Self.sqlState(of: "SELECT count(*) FROM bus.messages", as: .payment, url: url, logger: logger) == nil)
        }
    }

    @Test func eachServiceReachesOnlyWhatItOwns() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            let logger = TestLogger.make()
            let denied: [(Role, PostgresQuery)] = [
                (.inventory, "SELECT count(*) FROM payment.charges"),
                (.invoicing, "SELECT count(*) FROM ordering.orders"),
                (.orchestrator, "SELECT count(*) FROM payment.gateway_ledger"),
                (.api, "SELECT count(*) FROM payment.charges"),
                (.api, "SELECT count(*) FROM inventory.reservations"),
                (.api, "UPDATE orchestrator.sagas SET state = 'failed'"),
                (.payment, "DELETE FROM bus.dead_letters"),
                // The orchestrator records sagas' outcomes on orders, and nothing else of them.
                (.orchestrator, "SELECT lines FROM ordering.orders"),
                (.orchestrator, "UPDATE ordering.orders SET total_cents = 0"),
                (.orchestrator, "DELETE FROM ordering.orders"),
            ]
            for (role, query) in denied {
                #expect(try await Self.sqlState(of: query, as: role, url: url, logger: logger) == Self.insufficientPrivilege, "\(role) ran \(query.sql)")
            }
        }
    }

    @Test func theOrchestratorMaySettleOrders() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            let logger = TestLogger.make()
            let settle = PostgresQuery(unsafeSQL: OrderSettlement.update(from: "(VALUES (gen_random_uuid(), 'confirmed', ''))"))
            #expect(try await Self.sqlState(of: settle, as: .orchestrator, url: url, logger: logger) == nil)
            #expect(try await Self.sqlState(of: settle, as: .invoicing, url: url, logger: logger) == Self.insufficientPrivilege)
        }
    }
}
