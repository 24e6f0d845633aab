import Database
import Logging
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
    let logger: Logger
    let published = PublishedMetrics()

    /// Deadlines fire up to about `interval` late.
    /// `wakeups` wakes the consumers of what a sweep publishes (see ``Wakeups/committed(_:)``);
    /// without it, the sweep's commit notifies them.
    /// A sweep runs under a ``ConnectionWatchdog`` of `timeout` (`drain` once shutdown began):
    /// a stalled connection would otherwise stop every deadline of this process without a word.
    public init(client: PostgresClient, engine: SagaEngine, wakeups: Wakeups?, interval: Duration = .milliseconds(200),
                batchSize: Int = 100, timeout: Duration = .seconds(30), drain: Duration = .seconds(8), logger: Logger) {
        self.client = client
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
    func sweep() async throws -> Int {
        let (engine, batchSize, logger, watchdog) = (engine, batchSize, logger, watchdog)
        let fired = try await client.withConnection { connection in
            try await watchdog.run(on: connection, "a deadline sweep") {
                try await connection.transaction(logger: logger) { connection in
                    let fired = try await engine.fireDeadlines(limit: batchSize, on: connection, logger: logger)
                    try await MessagePublisher.publish(fired.messages, notifyAtCommit: wakeups?.notifiesAtCommit ?? true, on: connection,
                                                       logger: logger)
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
