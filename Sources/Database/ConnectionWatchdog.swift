import Logging
import Metrics
import Synchronization
import PostgresNIO
import ServiceLifecycle

/// Bounds how long work may wait on one connection.
///
/// Cancelling a task does not stop a statement it awaits, and a connection can stall without
/// failing (seen under chaos: a batch waited 48 s on a connection whose server had gone). The
/// watchdog closes the connection when the work takes longer than `timeout`, or, once a graceful
/// shutdown has begun, longer than `drain` after it: closing fails whatever waits on the
/// connection, the server rolls back its transaction, and the pool opens a new one.
///
/// It also looks at the connection once a second while the work runs: a connection that closed
/// under the work (its server ended it, or something in this process closed it) fails what
/// awaits it at once, unless postgres-nio lost that await, which it sometimes does (a query sent
/// on a closed connection is never answered). Work still running ``closedGrace`` after its
/// connection was seen closed is abandoned then, not at `timeout`.
///
/// Each time it steps in, it counts `eventicket_db_stalls_total{kind}` (through swift-metrics):
/// `timeout` or `shutdown` when it closes a connection, `connection_closed` when it abandons
/// work whose connection closed under it.
public struct ConnectionWatchdog: Sendable {
    /// Metric names, as Prometheus shows them.
    public enum Name {
        public static let stalls = "eventicket_db_stalls_total"
    }

    public var timeout: Duration
    public var drain: Duration
    public var logger: Logger

    public init(timeout: Duration, drain: Duration, logger: Logger) {
        self.timeout = timeout
        self.drain = drain
        self.logger = logger
    }

    /// For the work that answers an HTTP request (its reads, the order intake's batches): 30 s,
    /// or 8 s once a graceful shutdown began.
    public static func requests(logger: Logger) -> ConnectionWatchdog {
        ConnectionWatchdog(timeout: .seconds(30), drain: .seconds(8), logger: logger)
    }

    /// Runs `work` on `connection` under the watchdog.
    ///
    /// If `work` still has not returned `abandonAfter` after its connection was closed (a
    /// postgres-nio await can stay pending after its connection died), it is abandoned: this
    /// throws ``StalledConnectionError`` and the caller carries on with a new connection, while the
    /// stuck task, which holds nothing of the pool any more, is left to itself.
    public func run<T: Sendable>(
        on connection: PostgresConnection, _ what: String, abandonAfter grace: Duration = .seconds(5),
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let worker = Task {
                    do { race.finish(.success(try await work())) } catch { race.finish(.failure(error)) }
                }
                let timer = Task {
                    guard let expiry = try? await expiry(of: connection), !race.isFinished else { return }
                    let abandonAfter: Duration
                    switch expiry {
                    case .connectionClosed:
                        // Work that closed its own connection usually ends a moment later:
                        // only the abandonment below is worth a word.
                        abandonAfter = Self.closedGrace
                    case .timedOut, .drained:
                        logger.warning("closing a stalled connection", metadata: [
                            "work": "\(what)", "after": "\(expiry == .timedOut ? timeout : drain)",
                            "reason": "\(expiry.kind)",
                        ])
                        Self.countStall(expiry)
                        try? await connection.close()
                        abandonAfter = grace
                    }
                    guard (try? await connection.eventLoop.sleep(for: abandonAfter)) != nil, !race.isFinished else { return }
                    // Counted before the caller resumes, which may read the metrics at once.
                    if expiry == .connectionClosed { Self.countStall(expiry) }
                    if race.finish(.failure(StalledConnectionError(work: what))) {
                        logger.error("abandoning work that did not end after its connection was closed", metadata: [
                            "work": "\(what)", "grace": "\(abandonAfter)",
                            "closed": "\(expiry == .connectionClosed ? "under the work" : "by the watchdog")",
                        ])
                        worker.cancel()
                    }
                }
                race.register(stopAll: { worker.cancel(); timer.cancel() }, stopWork: { worker.cancel() })
            }
        } onCancel: {
            race.cancel()
        }
    }

    /// How often the watchdog looks whether the connection closed under the work.
    static let closedCheck = Duration.seconds(1)
    /// How long work may still run after its connection was seen closed: a connection's close
    /// fails what awaits it within microseconds, unless postgres-nio lost the await.
    static let closedGrace = Duration.seconds(1)

    private enum Expiry: CaseIterable {
        case timedOut
        case drained
        case connectionClosed

        /// The `kind` label of ``Name/stalls``.
        var kind: String {
            switch self {
            case .timedOut: "timeout"
            case .drained: "shutdown"
            case .connectionClosed: "connection_closed"
            }
        }
    }

    /// Makes ``Name/stalls`` show every kind at 0 from the start, so that a rate over it, and
    /// an alert on it, need no first stall. Call it once the metrics backend is in place.
    public static func registerMetrics() {
        for expiry in Expiry.allCases {
            _ = Counter(label: Name.stalls, dimensions: [("kind", expiry.kind)])
        }
    }

    /// Counts one step of the watchdog's in the process's metrics (the task's factory, if
    /// `withMetricsFactory` set one).
    private static func countStall(_ expiry: Expiry) {
        Counter(label: Name.stalls, dimensions: [("kind", expiry.kind)]).increment()
    }

    /// Returns after `timeout`, `drain` after a graceful shutdown began, or once `connection` is
    /// seen closed, whichever is first; throws when cancelled. Its timers run on the
    /// connection's event loop; a run shorter than ``closedCheck`` arms one timer, as before.
    private func expiry(of connection: PostgresConnection) async throws -> Expiry {
        let eventLoop = connection.eventLoop
        return try await withThrowingTaskGroup(of: Expiry.self) { group in
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while true {
                    let left = deadline - .now
                    if left <= .zero { return .timedOut }
                    try await eventLoop.sleep(for: min(left, Self.closedCheck))
                    if connection.isClosed { return .connectionClosed }
                }
            }
            group.addTask {
                try await gracefulShutdown()
                try await eventLoop.sleep(for: drain)
                return .drained
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }
}

/// Work that did not end after its connection was closed (by the watchdog, or under it);
/// nothing it did was committed, unless its `COMMIT` went through and only the answer was lost.
public struct StalledConnectionError: Error, CustomStringConvertible, Sendable {
    public var work: String
    public var description: String { "\(work) did not end after its connection was closed" }

    public init(work: String) { self.work = work }
}

/// One outcome of several racers (the work, the watchdog, the caller's cancellation) resumes the
/// caller, once; finishing also cancels the racers still running.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var stopAll: (@Sendable () -> Void)?
        var stopWork: (@Sendable () -> Void)?
        var cancelled = false
    }

    private let state = Mutex(State())

    var isFinished: Bool { state.withLock { $0.result != nil } }

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Registers how to stop the racers (all of them once the race is over; the work alone when
    /// the caller is cancelled, so that the watchdog still bounds it), and applies what already
    /// happened.
    func register(stopAll: @escaping @Sendable () -> Void, stopWork: @escaping @Sendable () -> Void) {
        let (finished, cancelled) = state.withLock { state -> (Bool, Bool) in
            state.stopAll = stopAll
            state.stopWork = stopWork
            return (state.result != nil, state.cancelled)
        }
        if finished { stopAll() } else if cancelled { stopWork() }
    }

    /// The first result resumes the caller; true if this one did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cancel) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard state.result == nil else { return (nil, nil) }
            state.result = result
            defer { state.continuation = nil; state.stopAll = nil; state.stopWork = nil }
            return (state.continuation, state.stopAll)
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        cancel?()
        return true
    }

    /// The caller was cancelled: pass it on to the work (which then usually ends by itself).
    func cancel() {
        let stopWork = state.withLock { state -> (@Sendable () -> Void)? in
            state.cancelled = true
            return state.result == nil ? state.stopWork : nil
        }
        stopWork?()
    }
}
