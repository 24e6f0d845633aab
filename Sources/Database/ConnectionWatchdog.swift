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
    ///
    /// What it costs work that ends in time: a task for the work, and a timer on the
    /// connection's event loop, armed and cancelled. The timeout, the looks at the connection and
    /// the drain are timers on that loop; only a stall starts a task of its own.
    public func run<T: Sendable>(
        on connection: PostgresConnection, _ what: String, abandonAfter grace: Duration = .seconds(5),
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let watch = Watch(watchdog: self, connection: connection, what: what, grace: grace, metrics: MetricsSystem.factory)
        let value = WorkValue<T>()
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    watch.start(continuation, worker: Task {
                        do {
                            value.set(try await work())
                            watch.finish(.success(()))
                        } catch {
                            watch.finish(.failure(error))
                        }
                    })
                }
            } onGracefulShutdown: {
                watch.shutdownBegan()
            }
        } onCancel: {
            watch.cancel()
        }
        // Resumed without an error only by the work's own end, after it set its value.
        return value.take()
    }

    /// How often the watchdog looks whether the connection closed under the work.
    static let closedCheck = Duration.seconds(1)
    /// How long work may still run after its connection was seen closed: a connection's close
    /// fails what awaits it within microseconds, unless postgres-nio lost the await.
    static let closedGrace = Duration.seconds(1)

    fileprivate enum Expiry: CaseIterable {
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

    /// Counts one step of the watchdog's in `factory`: the process's metrics, or those of the
    /// caller's task if `withMetricsFactory` set them.
    fileprivate static func countStall(_ expiry: Expiry, in factory: any MetricsFactory) {
        Counter(label: Name.stalls, dimensions: [("kind", expiry.kind)], factory: factory).increment()
    }
}

/// Work that did not end after its connection was closed (by the watchdog, or under it);
/// nothing it did was committed, unless its `COMMIT` went through and only the answer was lost.
public struct StalledConnectionError: Error, CustomStringConvertible, Sendable {
    public var work: String
    public var description: String { "\(work) did not end after its connection was closed" }

    public init(work: String) { self.work = work }
}

/// One run under the watchdog. The work, a stall and the caller's cancellation race; the first
/// outcome resumes the caller, once.
///
/// The looks at the connection and the timeout are one timer on the connection's event loop,
/// armed again after each look and cancelled when the work ends; a graceful shutdown arms a
/// second one, for the drain. Neither needs a task: only a stall starts one, to close the
/// connection and wait for the work to give up.
///
/// Not generic over the work's value (``WorkValue`` carries that): a generic class's methods
/// looked up its metadata, and instantiated its key paths, at every call, at run time.
private final class Watch: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Void, any Error>?
        /// An outcome that came before the caller's continuation did.
        var early: Result<Void, any Error>?
        var finished = false
        /// A timer found the work stalled; the other one stands down.
        var stalled = false
        var cancelled = false
        var drainArmed = false
        var worker: Task<Void, Never>?
        var check: NIOScheduledCallback?
        var drain: NIOScheduledCallback?
    }

    private let state = Mutex(State())
    private let watchdog: ConnectionWatchdog
    private let connection: PostgresConnection
    private let what: String
    private let grace: Duration
    private let metrics: any MetricsFactory
    private let deadline: ContinuousClock.Instant

    init(watchdog: ConnectionWatchdog, connection: PostgresConnection, what: String, grace: Duration, metrics: any MetricsFactory) {
        self.watchdog = watchdog
        self.connection = connection
        self.what = what
        self.grace = grace
        self.metrics = metrics
        self.deadline = .now + watchdog.timeout
    }

    private var isSettled: Bool { state.withLock { $0.finished || $0.stalled } }

    /// The caller waits on `continuation` while `worker` runs the work: arms the first look.
    func start(_ continuation: CheckedContinuation<Void, any Error>, worker: Task<Void, Never>) {
        let (early, cancelWorker) = state.withLock { state -> (Result<Void, any Error>?, Bool) in
            if let early = state.early {
                state.early = nil
                return (early, false)
            }
            state.continuation = continuation
            state.worker = worker
            return (nil, state.cancelled)
        }
        if let early { return continuation.resume(with: early) }
        if cancelWorker { worker.cancel() }
        armCheck(in: min(watchdog.timeout, ConnectionWatchdog.closedCheck))
    }

    /// The work's outcome, or a stall's: the first resumes the caller and stops the timers.
    /// True if this one did.
    @discardableResult
    func finish(_ outcome: Result<Void, any Error>) -> Bool {
        let settled = state.withLock { state -> (CheckedContinuation<Void, any Error>?, NIOScheduledCallback?, NIOScheduledCallback?)? in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil; state.worker = nil; state.check = nil; state.drain = nil }
            if state.continuation == nil { state.early = outcome }
            return (state.continuation, state.check, state.drain)
        }
        guard let (continuation, check, drain) = settled else { return false }
        check?.cancel()
        drain?.cancel()
        continuation?.resume(with: outcome)
        return true
    }

    /// The caller was cancelled: pass it on to the work (which then usually ends by itself); the
    /// timers still bound it.
    func cancel() {
        let worker = state.withLock { state -> Task<Void, Never>? in
            state.cancelled = true
            return state.finished ? nil : state.worker
        }
        worker?.cancel()
    }

    /// A graceful shutdown began (or had begun when the work started): the work has `drain` left.
    func shutdownBegan() {
        let first = state.withLock { state -> Bool in
            defer { state.drainArmed = true }
            return !state.finished && !state.drainArmed
        }
        if first { arm(\.drain, in: watchdog.drain) { $0.stall(.drained) } }
    }

    private func armCheck(in delay: Duration) {
        arm(\.check, in: delay) { $0.look() }
    }

    /// Arms a timer on the connection's event loop and keeps it in `slot` for ``finish`` to
    /// cancel; cancels it at once if the work finished meanwhile.
    private func arm(
        _ slot: WritableKeyPath<State, NIOScheduledCallback?>, in delay: Duration,
        fired: @escaping @Sendable (Watch) -> Void
    ) {
        guard let timer = try? connection.eventLoop.scheduleCallback(
            in: TimeAmount(delay), handler: Timer(watch: self, fired: fired)
        ) else { return }
        let keep = state.withLock { state -> Bool in
            guard !state.finished else { return false }
            state[keyPath: slot] = timer
            return true
        }
        if !keep { timer.cancel() }
    }

    /// On the event loop: was the connection closed under the work, or is its time up?
    private func look() {
        guard !isSettled else { return }
        if connection.isClosed { return stall(.connectionClosed) }
        let left = deadline - .now
        if left <= .zero { return stall(.timedOut) }
        armCheck(in: min(left, ConnectionWatchdog.closedCheck))
    }

    /// On the event loop: the first timer to find the work stalled hands it to a task, which
    /// closes the connection if it is still open and abandons the work if it does not end.
    private func stall(_ expiry: ConnectionWatchdog.Expiry) {
        let first = state.withLock { state -> Bool in
            defer { state.stalled = true }
            return !state.finished && !state.stalled
        }
        guard first else { return }
        Task { await handle(expiry) }
    }

    private func handle(_ expiry: ConnectionWatchdog.Expiry) async {
        let logger = watchdog.logger
        let abandonAfter: Duration
        switch expiry {
        case .connectionClosed:
            // Work that closed its own connection usually ends a moment later: only the
            // abandonment below is worth a word.
            abandonAfter = ConnectionWatchdog.closedGrace
        case .timedOut, .drained:
            logger.warning("closing a stalled connection", metadata: [
                "work": "\(what)", "after": "\(expiry == .timedOut ? watchdog.timeout : watchdog.drain)",
                "reason": "\(expiry.kind)",
            ])
            ConnectionWatchdog.countStall(expiry, in: metrics)
            try? await connection.close()
            abandonAfter = grace
        }
        try? await connection.eventLoop.sleep(for: abandonAfter)
        guard !state.withLock({ $0.finished }) else { return }
        // Counted before the caller resumes, which may read the metrics at once.
        if expiry == .connectionClosed { ConnectionWatchdog.countStall(expiry, in: metrics) }
        let worker = state.withLock { $0.worker }
        if finish(.failure(StalledConnectionError(work: what))) {
            logger.error("abandoning work that did not end after its connection was closed", metadata: [
                "work": "\(what)", "grace": "\(abandonAfter)",
                "closed": "\(expiry == .connectionClosed ? "under the work" : "by the watchdog")",
            ])
            worker?.cancel()
        }
    }

    /// One of the watch's timers on the connection's event loop.
    private struct Timer: NIOScheduledCallbackHandler, Sendable {
        let watch: Watch
        let fired: @Sendable (Watch) -> Void

        func handleScheduledCallback(eventLoop: some EventLoop) { fired(watch) }
    }
}

/// The value of work run under the watchdog, from the work's task to the caller's.
private final class WorkValue<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)

    func set(_ newValue: T) { value.withLock { $0 = newValue } }

    /// The value set; only after the work ended without an error.
    func take() -> T {
        value.withLock { value in
            defer { value = nil }
            return value!
        }
    }
}
