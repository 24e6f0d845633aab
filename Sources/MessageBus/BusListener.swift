import Database
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Listens for the `NOTIFY` of the queues this process consumes, on one pooled connection it
/// keeps for itself, and wakes those queues' consumers. Each queue has a channel of its own
/// (``MessagePublisher/channel(for:)``), so a process is woken only for its own queues.
/// Reconnects with backoff; after every (re)connect it wakes everyone, since notifications
/// sent while it was away are gone.
public struct BusListener: Service {
    let client: PostgresClient
    let queues: [String]
    let wakeups: Wakeups
    let logger: Logger

    /// How often the listening connection is checked, and how long its check may take.
    static let keepAliveInterval: Duration = .seconds(30)
    static let keepAliveTimeout: Duration = .seconds(10)

    public init(client: PostgresClient, queues: some Sequence<String>, wakeups: Wakeups, logger: Logger) {
        self.client = client
        self.queues = Set(queues).sorted()
        self.wakeups = wakeups
        self.logger = logger
    }

    public func run() async throws {
        guard !queues.isEmpty else { return }
        await cancelWhenGracefulShutdown { await self.listenLoop() }
    }

    private func listenLoop() async {
        var backoff = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        while !Task.isCancelled {
            let listened = Mutex(false)
            do {
                try await client.withConnection { connection in
                    try await listen(to: queues[...], on: connection, listening: []) {
                        listened.withLock { $0 = true }
                        wakeups.signalAll()
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("bus listener lost its connection; reconnecting", metadata: ["error": "\(error.diagnosticDescription)"])
            }
            if listened.withLock({ $0 }) { backoff.reset() }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// LISTENs on each queue's channel in turn; once all are acknowledged, calls `ready` and
    /// wakes each queue's consumers on its notifications until the connection ends.
    private func listen(
        to remaining: ArraySlice<String>, on connection: PostgresConnection,
        listening: [(queue: String, notifications: PostgresNotificationSequence)], ready: @escaping @Sendable () -> Void
    ) async throws {
        guard let queue = remaining.first else {
            ready()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (queue, notifications) in listening {
                    group.addTask {
                        for try await _ in notifications { wakeups.signal(queue) }
                    }
                }
                // A connection gone without a word (a half-open socket after a network
                // partition or a failover) never ends its notification sequences, and every
                // hop would wait for the consumers' poll until the process restarts: a
                // statement now and then, under a watchdog, finds out and starts over.
                group.addTask {
                    let watchdog = ConnectionWatchdog(timeout: Self.keepAliveTimeout, drain: .seconds(1), logger: logger)
                    while true {
                        try await Task.sleep(for: Self.keepAliveInterval)
                        try await watchdog.run(on: connection, "the bus listener's keep-alive") {
                            _ = try await connection.query("SELECT 1", logger: logger).collect()
                        }
                    }
                }
                // One sequence ending means the connection went: start over.
                try await group.next()
                group.cancelAll()
            }
            return
        }
        try await connection.listen(on: MessagePublisher.channel(for: queue)) { notifications in
            try await listen(to: remaining.dropFirst(), on: connection, listening: listening + [(queue, notifications)], ready: ready)
        }
    }
}
