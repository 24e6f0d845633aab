import Foundation
import Database
import EvenTicketContracts
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps the processed-messages ledger to a window: deletes entries older than `retention`,
/// a few thousand rows per statement so that no transaction grows large.
///
/// The ledger makes a consumer skip a message id it handled before; every handler is also
/// idempotent per saga, so a duplicate older than the window is still harmless.
public struct LedgerPruner: Service {
    let client: PostgresClient
    let retention: Duration
    let interval: Duration
    let logger: Logger

    /// How often ``run()`` also looks for entries of ids that are not time-ordered: about once
    /// an hour at the default interval, and at its first cycle.
    static let cyclesPerOtherIDs = 120

    public init(client: PostgresClient, retention: Duration, interval: Duration = .seconds(30), logger: Logger) {
        self.client = client
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var cycle = 0
            while !Task.isCancelled {
                cycle += 1
                do {
                    let deleted = try await prune(otherIDs: cycle % Self.cyclesPerOtherIDs == 1)
                    if deleted > 0 { logger.debug("pruned the processed-messages ledger", metadata: ["rows": "\(deleted)"]) }
                } catch {
                    // Stopping: the pool may be gone already, which is no failure worth a warning.
                    if Task.isCancelled || Task.isShuttingDownGracefully {
                        logger.debug("pruning the processed-messages ledger failed while stopping", metadata: ["error": "\(error.diagnosticDescription)"])
                        break
                    }
                    logger.warning("pruning the processed-messages ledger failed", metadata: ["error": "\(error.diagnosticDescription)"])
                }
                try? await Task.sleep(for: interval * Double.random(in: 0.8..<1.2))
            }
        }
    }

    /// Deletes every entry older than the retention; returns how many. Entries of ids that are
    /// not time-ordered are looked for only when `otherIDs` is set (``run()`` does it about
    /// once an hour). Each chunk runs under a ``ConnectionWatchdog``: a stalled connection would
    /// otherwise stop the pruning without a word.
    @discardableResult
    public func prune(chunk: Int = 5000, otherIDs: Bool = false) async throws -> Int {
        let watchdog = ConnectionWatchdog(timeout: .seconds(60), drain: .seconds(5), logger: logger)
        var total = 0
        while !Task.isCancelled {
            let deleted = try await client.withConnection { connection in
                try await watchdog.run(on: connection, "pruning the ledger") { try await pruneChunk(chunk, on: connection) }
            }
            total += deleted
            if deleted < chunk { break }
        }
        if otherIDs {
            total += try await client.withConnection { connection in
                try await watchdog.run(on: connection, "pruning the ledger's other ids") { try await pruneOtherIDs(chunk, on: connection) }
            }
        }
        return total
    }

    private func pruneChunk(_ chunk: Int, on connection: PostgresConnection) async throws -> Int {
        // Every consumer's entries of time-ordered ids (UUIDv7: every id this system's
        // publishers make) created before the cutoff, oldest first, along the primary key
        // (consumer, message_id): only rows to delete are visited, whatever the table's size.
        // An entry whose message is older than the retention but was handled within it (a
        // delayed or retried message) stays until its handling is that old. The consumers are
        // found with a probe of the key per consumer.
        let cutoff = UUID.timeOrderedFloor(of: Date().addingTimeInterval(-retention.seconds))
        let rows = try await connection.query(Self.chunkStatement(cutoff: cutoff, retention: retention, chunk: chunk), logger: logger)
        return try await rows.decode(Int.self).lastElement() ?? 0
    }

    /// Deletes up to `chunk` entries of ids below `cutoff` handled more than `retention` ago.
    static func chunkStatement(cutoff: UUID, retention: Duration, chunk: Int) -> PostgresQuery {
        """
        WITH RECURSIVE consumers AS (
            (SELECT consumer FROM bus.processed_messages ORDER BY consumer LIMIT 1)
            UNION ALL
            SELECT (SELECT p.consumer FROM bus.processed_messages p WHERE p.consumer > c.consumer ORDER BY p.consumer LIMIT 1)
              FROM consumers c WHERE c.consumer IS NOT NULL),
        doomed AS (
            SELECT old.ctid FROM consumers c CROSS JOIN LATERAL (
                SELECT p.ctid FROM bus.processed_messages p
                 WHERE p.consumer = c.consumer AND p.message_id < \(cutoff)
                   AND p.processed_at < now() - \(retention.milliseconds) * interval '1 millisecond'
                 ORDER BY p.message_id LIMIT \(chunk)) old
             WHERE c.consumer IS NOT NULL
             LIMIT \(chunk)),
        gone AS (DELETE FROM bus.processed_messages WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed)) RETURNING 1)
        SELECT count(*)::int FROM gone
        """
    }

    /// Entries of other ids (another publisher's random UUIDs, which the key's order does not
    /// sort by time), found by their handling's time: through the BRIN index on
    /// `processed_at`, which stops narrowing the search once pruned pages are reused (every
    /// range then holds an old time), so this runs rarely and for at most a few seconds.
    private func pruneOtherIDs(_ chunk: Int, on connection: PostgresConnection) async throws -> Int {
        try await connection.transaction(logger: logger) { connection in
            _ = try await connection.query("SET LOCAL statement_timeout = '5s'", logger: logger).collect()
            let rows = try await connection.query(
                """
                WITH gone AS (
                    DELETE FROM bus.processed_messages
                     WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM bus.processed_messages
                         WHERE processed_at < now() - \(retention.milliseconds) * interval '1 millisecond'
                           AND get_byte(uuid_send(message_id), 6) >> 4 <> 7
                         LIMIT \(chunk)))
                    RETURNING 1)
                SELECT count(*)::int FROM gone
                """,
                logger: logger)
            return try await rows.decode(Int.self).lastElement() ?? 0
        }
    }
}
