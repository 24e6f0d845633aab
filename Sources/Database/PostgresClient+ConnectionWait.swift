import PostgresNIO
import Synchronization

/// No pooled connection became free within the wait allowed. The work did not start: nothing
/// was sent to PostgreSQL.
public struct ConnectionWaitTimedOut: Error, CustomStringConvertible {
    public var waited: Duration

    public var description: String { "no database connection within \(waited)" }
}

extension PostgresClient {
    /// Like `withConnection`, but gives up waiting for a connection after `wait` (nil: waits as
    /// long as the pool does) and throws ``ConnectionWaitTimedOut`` instead.
    ///
    /// While PostgreSQL is down, the pool keeps trying to connect, and a lease waits for it until
    /// the pool's circuit breaker trips, a fixed 60 s in postgres-nio; a request should not wait
    /// that long. Only the wait is bounded: once `body` has its connection, it runs to its end
    /// however long it takes, so that work that may have been written is never abandoned.
    public func withConnection<T: Sendable>(
        waitingAtMost wait: Duration?, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard let wait else { return try await withConnection(body) }
        let lease = LeaseWait()
        return try await withThrowingTaskGroup(of: LeaseWaitOutcome<T>.self) { group in
            group.addTask {
                .finished(try await self.withConnection { connection in
                    let mine = lease.end(.leased)
                    // The wait ended first: give the connection back without using it.
                    guard mine else { throw ConnectionWaitTimedOut(waited: wait) }
                    return try await body(connection)
                })
            }
            group.addTask {
                // Cancelled (the caller was): the lease request is cancelled too, and says so.
                guard (try? await Task.sleep(for: wait)) != nil else { return .timerStopped }
                return lease.end(.givenUp) ? .gaveUp : .timerStopped
            }
            while let outcome = try await group.next() {
                switch outcome {
                case .finished(let result):
                    group.cancelAll()
                    return result
                case .gaveUp:
                    // Cancels the lease request still queued in the pool.
                    group.cancelAll()
                    throw ConnectionWaitTimedOut(waited: wait)
                case .timerStopped:
                    continue
                }
            }
            throw ConnectionWaitTimedOut(waited: wait)
        }
    }
}

extension PostgresClient {
    /// Like ``withConnection(waitingAtMost:_:)``, for a read that nothing waits on having
    /// finished (a request's lookup): `body` also runs under `watchdog`, so a connection that
    /// stalls under it (see ``ConnectionWatchdog``) costs the request an error instead of
    /// holding it, and one of the pool's connections, for good.
    public func withConnection<T: Sendable>(
        waitingAtMost wait: Duration?, watchedBy watchdog: ConnectionWatchdog, _ what: String,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(waitingAtMost: wait) { connection in
            try await watchdog.run(on: connection, what) { try await body(connection) }
        }
    }
}

/// Where a bounded wait for a connection stands: the lease and the timer race to end it.
private final class LeaseWait: Sendable {
    enum End { case leased, givenUp }

    private let outcome = Mutex<End?>(nil)

    /// Ends the wait as `how`; false when the other side ended it first.
    func end(_ how: End) -> Bool {
        outcome.withLock { end in
            guard end == nil else { return false }
            end = how
            return true
        }
    }
}

/// What ended a child task of a bounded wait: the work, the timer giving up, or the timer
/// stopping without giving up (the connection came in time, or the wait was cancelled).
private enum LeaseWaitOutcome<T: Sendable>: Sendable { case finished(T), gaveUp, timerStopped }
