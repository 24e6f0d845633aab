import Database
import Foundation
import Logging
import PostgresNIO

/// Counters from PostgreSQL's statistics views, read at the start and end of the window.
///
/// PostgreSQL flushes a backend's counters at most about once a second, so a window's deltas
/// are exact to within that. The bench's own queries (the poller, these snapshots) are counted
/// by the bench and subtracted.
struct PostgresStatistics: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Whether `pg_stat_statements` answers (loaded through shared_preload_libraries and created).
    let statementsAvailable: Bool

    struct Snapshot: Sendable {
        /// The server's clock, to count saga history rows by their `at`.
        var serverTime: Date
        var commits: Int64
        var rowsWritten: Int64
        var walBytes: Int64?
        /// `pg_stat_wal.wal_sync`: the WAL flushes that commits waited on (one may serve several).
        var walFlushes: Int64?
        var statements: Int64?
    }

    struct Delta: Sendable {
        var commits: Int64
        var rowsWritten: Int64
        var walBytes: Int64?
        var walFlushes: Int64?
        var statements: Int64?
    }

    /// Creates the `pg_stat_statements` extension if it can, and says whether it answers.
    static func enable(client: PostgresClient, logger: Logger) async -> PostgresStatistics {
        var available = false
        do {
            _ = try await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: logger).collect()
            _ = try await client.query("SELECT count(*) FROM pg_stat_statements", logger: logger).collect()
            available = true
        } catch {
            logger.info("pg_stat_statements is not available; statements per saga will be n/a",
                        metadata: ["error": "\(error.diagnosticDescription)"])
        }
        return PostgresStatistics(client: client, logger: logger, statementsAvailable: available)
    }

    /// Reads the counters; `ledger` counts the queries this sends.
    func snapshot(ledger: OrderLedger) async throws -> Snapshot {
        let rows = try await client.query("""
            SELECT clock_timestamp(), d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
                   (SELECT wal_bytes::bigint FROM pg_stat_wal),
                   -- PostgreSQL 18 moved wal_sync to pg_stat_io: read it only where it is.
                   (SELECT (to_jsonb(w) ->> 'wal_sync')::bigint FROM pg_stat_wal w)
            FROM pg_stat_database d WHERE d.datname = current_database()
            """, logger: logger)
        ledger.ownQuery()
        var snapshot: Snapshot?
        for try await (time, commits, rows, wal, flushes) in rows.decode((Date, Int64, Int64, Int64?, Int64?).self) {
            snapshot = Snapshot(serverTime: time, commits: commits, rowsWritten: rows, walBytes: wal, walFlushes: flushes, statements: nil)
        }
        guard var snapshot else { throw BenchError("pg_stat_database has no row for the bench's database") }
        if statementsAvailable {
            ledger.ownQuery()
            let rows = try await client.query("""
                SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, logger: logger)
            for try await calls in rows.decode(Int64.self) { snapshot.statements = calls }
        }
        return snapshot
    }

    /// End minus start, less `ownQueries` (one commit and one statement each).
    static func delta(from start: Snapshot, to end: Snapshot, ownQueries: Int) -> Delta {
        let own = Int64(ownQueries)
        return Delta(
            commits: max(end.commits - start.commits - own, 0),
            rowsWritten: end.rowsWritten - start.rowsWritten,
            walBytes: both(end.walBytes, start.walBytes).map { $0 - $1 },
            walFlushes: both(end.walFlushes, start.walFlushes).map { $0 - $1 },
            statements: both(end.statements, start.statements).map { max($0 - $1 - own, 0) })
    }

    /// The server's version and durability settings, for the report.
    func server() async throws -> BenchReport.Server? {
        let rows = try await client.query(
            "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')", logger: logger)
        return try await rows.decode((String, String, String).self).lastElement().map { version, fsync, synchronousCommit in
            BenchReport.Server(version: version, fsync: fsync, synchronousCommit: synchronousCommit)
        }
    }

    /// Saga transitions (rows of history that started a saga or applied an input, not those
    /// that ignored one) stamped between two server times.
    func transitions(from start: Date, to end: Date) async throws -> Int64 {
        let rows = try await client.query("""
            SELECT count(*) FROM orchestrator.saga_transitions
            WHERE entries -> 0 ->> 'kind' IN ('started', 'received') AND at >= \(start) AND at < \(end)
            """, logger: logger)
        return try await rows.decode(Int64.self).lastElement() ?? 0
    }
}

private func both(_ a: Int64?, _ b: Int64?) -> (Int64, Int64)? {
    guard let a, let b else { return nil }
    return (a, b)
}
