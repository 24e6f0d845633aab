import Database
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for the bus's NOTIFY on one pooled connection it keeps for itself, and wakes the
/// consumers of the named queue. Reconnects with backoff; after every (re)connect it wakes
/// everyone, since notifications sent while it was away are gone.
public struct BusListener: Service {
    let client: PostgresClient
    let wakeups: Wakeups
    let logger: Logger

    public init(client: PostgresClient, wakeups: Wakeups, logger: Logger) {
        self.client = client
        self.wakeups = wakeups
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.listenLoop() }
    }

    private func listenLoop() async {
        var backoff = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: MessagePublisher.channel) { notifications in
                            backoff.reset()
                            wakeups.signalAll()
                            for try await notification in notifications {
                                wakeups.signal(notification.payload)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("bus listener lost its connection; reconnecting", metadata: ["error": "\(error.diagnosticDescription)"])
                }
                try? await Task.sleep(for: backoff.next())
        }
    }
}
