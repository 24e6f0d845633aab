import Database
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

    public init(client: PostgresClient, retention: Duration, interval: Duration = .seconds(30), logger: Logger) {
        self.client = client
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let deleted = try await prune()
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

    /// Deletes every entry older than the retention; returns how many. Each chunk runs under a
    /// ``ConnectionWatchdog``: a stalled connection would otherwise stop the pruning without a word.
    @discardableResult
    public func prune(chunk: Int = 5000) async throws -> Int {
        let watchdog = ConnectionWatchdog(timeout: .seconds(60), drain: .seconds(5), logger: logger)
        var total = 0
        while !Task.isCancelled {
            let deleted = try await client.withConnection { connection in
                try await watchdog.run(on: connection, "pruning the ledger") { try await pruneChunk(chunk, on: connection) }
            }
            total += deleted
            if deleted < chunk { break }
        }
        return total
    }

    private func pruneChunk(_ chunk: Int, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            WITH gone AS (
                DELETE FROM bus.processed_messages
                 WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM bus.processed_messages
                     WHERE processed_at < now() - \(retention.milliseconds) * interval '1 millisecond'
                     LIMIT \(chunk)))
                RETURNING 1)
            SELECT count(*)::int FROM gone
            """,
            logger: logger)
        return try await rows.decode(Int.self).lastElement() ?? 0
    }
}
