import Logging
import PostgresNIO

/// Live and dead tuples and the on-disk size of the tables that churn, read at the start of
/// the window and after the settle time, to show whether they bloat.
///
/// Tuple counts come from `pg_stat_user_tables`: estimates that the server's statistics
/// collector updates at most about once a second per backend, and that VACUUM and ANALYZE reset.
struct TableStatistics: Sendable {
    /// The tables reported, in this order: the queue, the consumers' ledger, the saga tables, the orders.
    static let tables = [
        "bus.messages", "bus.processed_messages", "orchestrator.deadlines",
        "orchestrator.sagas", "orchestrator.saga_transitions", "ordering.orders",
    ]

    let client: PostgresClient
    let logger: Logger

    /// Reads every table in ``tables`` that exists, by schema-qualified name.
    func read() async throws -> [String: BenchReport.TableReading] {
        let rows = try await client.query("""
            SELECT schemaname || '.' || relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid)
              FROM pg_stat_user_tables
             WHERE schemaname || '.' || relname = ANY(\(Self.tables))
            """, logger: logger)
        var readings: [String: BenchReport.TableReading] = [:]
        for try await (name, live, dead, bytes) in rows.decode((String, Int64, Int64, Int64).self) {
            readings[name] = BenchReport.TableReading(liveTuples: live, deadTuples: dead, totalBytes: bytes)
        }
        return readings
    }
}
