import Database
import Logging
import PostgresNIO

/// Messages queued for later that stay queued for the whole run: the bench's model of a bus
/// that already holds a large backlog of scheduled deliveries.
///
/// The rows sit on the real queues, spread evenly, with `visible_at` a day ahead, so that every
/// claim has to find the visible messages among them. They are inserted set-based, in chunks of
/// ``chunkSize`` rows (one transaction each), and carry the type ``messageType`` so that they can
/// be told apart and deleted afterwards.
struct Backlog: Sendable {
    /// The `type` of every backlog row.
    static let messageType = "BacklogFiller.v1"
    /// The queues the rows are spread over: the raw values of `EvenTicketContracts.Queue`.
    static let queues = ["orchestrator", "inventory", "invoicing", "payment", "ordering"]
    /// Rows per INSERT statement.
    static let chunkSize = 100_000

    let client: PostgresClient
    let logger: Logger

    /// The row counts of the INSERTs that queue `total` rows, `size` at a time.
    static func chunks(total: Int, size: Int = chunkSize) -> [Int] {
        guard total > 0, size > 0 else { return [] }
        return stride(from: 0, to: total, by: size).map { min(size, total - $0) }
    }

    /// Queues `total` rows, then settles them the way a backlog that has stood for a while is
    /// settled: vacuumed (hint bits and visibility map set, statistics for the planner) and
    /// checkpointed. `progress` receives the rows queued so far after each chunk.
    ///
    /// Without the checkpoint the WAL of the inserts (hundreds of MB for a million rows) brings
    /// on a checkpoint during the measured window, which then writes the whole backlog to disk and
    /// makes every first change to a page after it a full-page image: a cost of loading the
    /// backlog just before, not of having one. CHECKPOINT needs a superuser or `pg_checkpoint`;
    /// without it the run goes on, and says so.
    ///
    /// One connection does it all and flushes its statistics before the VACUUM: otherwise the
    /// inserts' counts can reach `pg_stat_user_tables` after the VACUUM set `n_live_tup`, and
    /// count the backlog twice there.
    func fill(_ total: Int, progress: @Sendable (Int) -> Void) async throws {
        guard total > 0 else { return }
        let logger = self.logger
        try await client.withConnection { connection in
            var queued = 0
            for count in Self.chunks(total: total) {
                _ = try await connection.query("""
                    INSERT INTO bus.messages (id, queue, type, saga_id, payload, visible_at)
                    SELECT gen_random_uuid(), (\(Self.queues)::text[])[1 + i % \(Self.queues.count)], \(Self.messageType),
                           gen_random_uuid(), '{}', now() + interval '1 day'
                      FROM generate_series(1, \(count)) AS i
                    """, logger: logger).collect()
                queued += count
                progress(queued)
            }
            // The flush happens when this statement's transaction ends, before the next one starts.
            _ = try await connection.query("SELECT pg_stat_force_next_flush()", logger: logger).collect()
            _ = try await connection.query("VACUUM (ANALYZE) bus.messages", logger: logger).collect()
            do {
                _ = try await connection.query("CHECKPOINT", logger: logger).collect()
            } catch {
                logger.warning("could not checkpoint after queueing the backlog; a checkpoint may fall in the measured window",
                               metadata: ["error": "\(error.diagnosticDescription)"])
            }
        }
    }

    /// Deletes every backlog row; returns how many there were.
    @discardableResult
    func remove() async throws -> Int {
        let rows = try await client.query("""
            WITH gone AS (DELETE FROM bus.messages WHERE type = \(Self.messageType) RETURNING 1)
            SELECT count(*)::int FROM gone
            """, logger: logger)
        return try await rows.decode(Int.self).lastElement() ?? 0
    }
}
