import Database
import Logging
import Metrics
import MessageBus
import PostgresNIO
import ServiceLifecycle

/// Fires the deadlines of sagas whose step took too long: the saga compensates, or sends its
/// compensation again. Any number of orchestrators may sweep at once; each saga is locked
/// (skipping those another transaction holds) and its deadline read again before it fires.
public struct DeadlineSweeper: Service {
    let client: PostgresClient
    let engine: SagaEngine
    let wakeups: Wakeups?
    let interval: Duration
    let batchSize: Int
    let watchdog: ConnectionWatchdog
    let putOffDelay: Duration
    let putOffCount: Counter
    let logger: Logger
    let published = PublishedMetrics()

    public enum Name {
        /// Alarms put off because their saga's deadline could not fire (see ``sweep()``).
        public static let putOff = "eventicket_deadlines_put_off_total"
    }

    /// Deadlines fire up to about `interval` late.
    /// `wakeups` wakes the consumers of what a sweep publishes (see ``Wakeups/committed(_:)``);
    /// without it, the sweep's commit notifies them.
    /// A sweep runs under a ``ConnectionWatchdog`` of `timeout` (`drain` once shutdown began):
    /// a stalled connection would otherwise stop every deadline of this process without a word.
    /// The alarm of a saga whose deadline cannot fire rings again after `putOff`.
    public init(client: PostgresClient, engine: SagaEngine, wakeups: Wakeups?, interval: Duration = .milliseconds(200),
                batchSize: Int = 100, timeout: Duration = .seconds(30), drain: Duration = .seconds(8), putOff: Duration = .seconds(60),
                logger: Logger) {
        self.client = client
        self.putOffDelay = putOff
        // Created here, so that it is exported at 0 from the start (an alert needs no first one).
        self.putOffCount = Counter(label: Name.putOff)
        self.engine = engine
        self.wakeups = wakeups
        self.interval = interval
        self.batchSize = batchSize
        self.watchdog = ConnectionWatchdog(timeout: timeout, drain: drain, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = Backoff(base: .milliseconds(100), maximum: .seconds(5))
            while !Task.isCancelled {
                do {
                    let fired = try await sweep()
                    failures.reset()
                    if fired == batchSize { continue }
                    try? await Task.sleep(for: interval * Double.random(in: 0.8..<1.2))
                } catch {
                    // Stopping: the pool may be gone already, which is no failure worth a warning.
                    if Task.isCancelled || Task.isShuttingDownGracefully {
                        logger.debug("deadline sweep failed while stopping", metadata: ["error": "\(error.diagnosticDescription)"])
                        break
                    }
                    logger.warning("deadline sweep failed; backing off", metadata: ["error": "\(error.diagnosticDescription)"])
                    try? await Task.sleep(for: failures.next())
                }
            }
        }
    }

    /// Fires one batch of due deadlines; returns how many sagas it looked at.
    ///
    /// A saga whose deadline cannot fire (its row does not make a saga, its transition cannot
    /// be stored) fails the batch's transaction, and its alarm, the oldest, would lead every
    /// batch after it: no deadline of any saga would fire again. So a batch that fails for
    /// another reason than the database's availability is swept again a saga at a time, and
    /// the alarm of a saga that still fails is put off by ``putOffDelay``, logged as an error
    /// and counted (``Name/putOff``), as a consumer handles a message alone after its batch
    /// failed and dead-letters it if it fails again.
    func sweep() async throws -> Int {
        let (batchSize, logger) = (batchSize, logger)
        do {
            return try await sweep { engine, connection in try await engine.fireDeadlines(limit: batchSize, on: connection, logger: logger) }
        } catch where !error.isDatabaseUnavailable && !Task.isCancelled {
            logger.warning("deadline sweep failed; firing its deadlines a saga at a time", metadata: ["error": "\(error.diagnosticDescription)"])
            return try await sweepOneByOne()
        }
    }

    private func sweepOneByOne() async throws -> Int {
        let (engine, batchSize, putOffDelay, logger, watchdog) = (engine, batchSize, putOffDelay, logger, watchdog)
        let rung = try await client.withConnection { connection in
            try await watchdog.run(on: connection, "a deadline sweep's read") {
                try await engine.rungAlarms(limit: batchSize, on: connection, logger: logger)
            }
        }
        var handled = 0
        for id in rung {
            do {
                handled += try await sweep { engine, connection in try await engine.fireDeadlines(of: [id], on: connection, logger: logger) }
            } catch where !error.isDatabaseUnavailable && !Task.isCancelled {
                let putOff = try await client.withConnection { connection in
                    try await watchdog.run(on: connection, "putting off a deadline") {
                        try await connection.transaction(logger: logger) { connection in
                            try await engine.putOffAlarm(of: id, by: putOffDelay, on: connection, logger: logger)
                        }
                    }
                }
                guard putOff else { continue } // the saga or its alarm went meanwhile
                putOffCount.increment()
                handled += 1
                logger.error("a saga's deadline cannot fire; its alarm is put off", metadata: [
                    "sagaId": "\(id)", "error": "\(error.diagnosticDescription)", "retryIn": "\(putOffDelay)",
                ])
            }
        }
        return handled
    }

    /// Fires what `fire` finds in one transaction, publishes what it sends, and returns how
    /// many sagas it looked at.
    private func sweep(
        _ fire: @escaping @Sendable (SagaEngine, PostgresConnection) async throws -> SagaEngine.FiredDeadlines
    ) async throws -> Int {
        let (engine, logger, watchdog, notifyAtCommit) = (engine, logger, watchdog, wakeups?.notifiesAtCommit ?? true)
        let fired = try await client.withConnection { connection in
            try await watchdog.run(on: connection, "a deadline sweep") {
                try await connection.transaction(logger: logger) { connection in
                    let fired = try await fire(engine, connection)
                    try await MessagePublisher.publish(fired.messages, notifyAtCommit: notifyAtCommit, on: connection, logger: logger)
                    return fired
                }
            }
        }
        let (messages, count) = (fired.messages, fired.count)
        published.count(messages)
        fired.onCommit()
        wakeups?.committed(messages)
        if count > 0 { logger.debug("deadlines fired", metadata: ["count": "\(count)"]) }
        return count
    }
}
