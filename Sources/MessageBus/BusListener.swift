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
