import EvenTicketTesting
import Foundation
import Logging
@testable import MessageBus
@testable import Orchestrator
import PostgresNIO
import Testing

/// The services run their prepared statements' generic plans (`plan_cache_mode =
/// force_generic_plan`), planned once per connection, often while the tables are still small.
/// The probes that guard the processed-messages ledger and the deadline alarms must stay one
/// primary-key lookup per row in those plans: as anti-joins, they hashed the consumer's whole
/// ledger, or every future alarm, on every batch.
@Suite("Generic plans", .timeLimit(.minutes(2)))
struct GenericPlanTests {
    /// The generic plan of `sql`, its parameters' types inferred by PostgreSQL.
    static func genericPlan(of sql: String, on connection: PostgresConnection, logger: Logger) async throws -> String {
        let parameters = Set(sql.matches(of: /\$(\d+)/).compactMap { Int($0.1) }).count
        let nulls = Array(repeating: "NULL", count: parameters).joined(separator: ", ")
        _ = try await connection.query("SET plan_cache_mode = force_generic_plan", logger: logger).collect()
        _ = try await connection.query(PostgresQuery(unsafeSQL: "PREPARE probe AS \(sql)"), logger: logger).collect()
        var lines: [String] = []
        for try await line in try await connection.query(
            PostgresQuery(unsafeSQL: "EXPLAIN (COSTS OFF) EXECUTE probe(\(nulls))"), logger: logger
        ).decode(String.self) {
            lines.append(line)
        }
        _ = try await connection.query("DEALLOCATE probe", logger: logger).collect()
        return lines.joined(separator: "\n")
    }

    @Test(arguments: ["claim", "claim with saga rows"])
    func aClaimProbesTheLedgerByPrimaryKey(name: String) async throws {
        let sql = name == "claim" ? BusStatements.Claim.sql : BusStatements.ClaimWithRows<SagaStatements.ClaimedSagas>.sql
        try await TestSystem.withDatabase { client, logger in
            let plan = try await client.withConnection { try await Self.genericPlan(of: sql, on: $0, logger: logger) }
            #expect(!plan.contains("Anti Join"), "\(name):\n\(plan)")
            #expect(plan.contains("Index Only Scan using processed_messages_pkey on processed_messages")
                        || plan.contains("Index Scan using processed_messages_pkey on processed_messages"), "\(name):\n\(plan)")
            #expect(plan.contains("SubPlan"), "\(name):\n\(plan)")
        }
    }

    @Test func savingSagasProbesTheirAlarmsByPrimaryKey() async throws {
        try await TestSystem.withDatabase { client, logger in
            let sql = BusStatements.PublishWith<SagaStatements.SaveWrites>.sql
            let plan = try await client.withConnection { try await Self.genericPlan(of: sql, on: $0, logger: logger) }
            #expect(!plan.contains("Anti Join"), "\(plan)")
            #expect(plan.contains("Index Scan using deadlines_pkey on deadlines a"), "\(plan)")
        }
    }

    /// Planned on empty tables, the joins of saving sagas scan their tables; autovacuum's
    /// `ANALYZE` of a table that grew invalidates the plans, and once the tables are analysed,
    /// every saga and order of a batch is one primary-key lookup.
    @Test func savingSagasOfAnalysedTablesLooksUpSagasAndOrdersByPrimaryKey() async throws {
        try await TestSystem.withDatabase { client, logger in
            _ = try await client.query("""
                INSERT INTO ordering.orders (id, saga_id, customer_id, event_id, lines, total_cents, currency, status, request)
                SELECT gen_random_uuid(), gen_random_uuid(), 'plan', gen_random_uuid(), '[]', 100, 'EUR', 'pending', '{}'
                  FROM generate_series(1, 20000)
                """, logger: logger).collect()
            _ = try await client.query("""
                INSERT INTO orchestrator.sagas (id, order_id, state, step, order_data)
                SELECT saga_id, id, 'running', 'reserveTickets', '{}' FROM ordering.orders
                """, logger: logger).collect()
            _ = try await client.query("ANALYZE ordering.orders, orchestrator.sagas", logger: logger).collect()
            let sql = BusStatements.PublishWith<SagaStatements.SaveWrites>.sql
            let plan = try await client.withConnection { try await Self.genericPlan(of: sql, on: $0, logger: logger) }
            #expect(plan.contains("Index Scan using sagas_pkey on sagas s"), "\(plan)")
            #expect(plan.contains("Index Scan using orders_pkey on orders o"), "\(plan)")
            #expect(!plan.contains("Seq Scan on orders") && !plan.contains("Seq Scan on sagas"), "\(plan)")
        }
    }

    /// The saga listing by state uses the `(state, id)` index, with or without a cursor; without
    /// a state it walks the primary key from the cursor. One statement for every filter (`$1 IS
    /// NULL OR s.state = $1`) walked the primary key from the newest saga for every state.
    @Test(arguments: [(true, false), (true, true), (false, true), (false, false)])
    func theSagaListingUsesTheIndexOfItsFilter(byState: Bool, after: Bool) async throws {
        try await TestSystem.withDatabase { client, logger in
            let sql = SagaQueries.listSQL(byState: byState, after: after)
            let plan = try await client.withConnection { try await Self.genericPlan(of: sql, on: $0, logger: logger) }
            if byState {
                #expect(plan.contains("using sagas_state_id_idx on sagas s"), "\(plan)")
                #expect(plan.contains("Index Cond: (state = $1)") || plan.contains("Index Cond: ((state = $1) AND (id < $2))"), "\(plan)")
            } else {
                #expect(plan.contains("Index Scan Backward using sagas_pkey on sagas s"), "\(plan)")
                if after { #expect(plan.contains("Index Cond: (id < $1)"), "\(plan)") }
            }
            #expect(!plan.contains("Filter"), "\(plan)")
        }
    }
}
