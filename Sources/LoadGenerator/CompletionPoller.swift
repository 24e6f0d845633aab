import Database
import Foundation
import Logging
import PostgresNIO

/// Finds the in-flight orders that became terminal: every ~20 ms, one query for the ids the
/// ledger says are due (see ``OrderLedger/idsToPoll(now:interval:)``), on a connection of its own. An order's `updated_at` is when its outcome was
/// written, just before the commit that ended its saga, so the latency does not depend on how
/// often this polls.
struct CompletionPoller: Sendable {
    let client: PostgresClient
    let ledger: OrderLedger
    let interval: Duration
    let logger: Logger

    init(client: PostgresClient, ledger: OrderLedger, interval: Duration = .milliseconds(20), logger: Logger) {
        self.client = client
        self.ledger = ledger
        self.interval = interval
        self.logger = logger
    }

    /// Polls until cancelled. `backendPID` receives the PostgreSQL process serving the poller,
    /// so that its CPU is not counted as the system's.
    func run(backendPID: Locked<Int32?>) async throws {
        try await client.withConnection { connection in
            for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) {
                backendPID.withLock { $0 = pid }
            }
            // Its one statement, planned once (a custom plan per poll cost more than the lookup),
            // and by the primary key: the plan is made while the table is still empty, when a
            // sequential scan would look cheapest (see `EvenTicketSystem.servicePoolSettings`).
            _ = try await connection.query("SET plan_cache_mode = force_generic_plan", logger: logger).collect()
            _ = try await connection.query("SET enable_seqscan = off", logger: logger).collect()
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                let ids = ledger.idsToPoll(interval: interval.seconds)
                if !ids.isEmpty {
                    ledger.ownQuery()
                    let rows = try await connection.execute(
                        Prepared<TerminalOrders, (UUID, String, String?, Date)>(PostgresBindings(ids)) {
                            var columns = RowReader($0)
                            return (try columns.next(UUID.self), try columns.next(String.self), try columns.next(String?.self),
                                    try columns.next(Date.self))
                        },
                        logger: logger)
                    var outcomes: [OrderLedger.Outcome] = []
                    for try await (id, status, reason, updatedAt) in rows {
                        outcomes.append(.init(id: id, status: status, reason: reason, updatedAt: updatedAt))
                    }
                    ledger.completed(outcomes)
                }
                next = max(next + interval, clock.now)
                try await Task.sleep(until: next, clock: clock)
            }
        }
    }
}

/// The orders of a list that are no longer pending.
enum TerminalOrders: PreparedSQL {
    static let sql = "SELECT id, status, reason, updated_at FROM ordering.orders WHERE id = ANY($1::uuid[]) AND status <> 'pending'"
}
