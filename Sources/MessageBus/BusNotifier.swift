import Database
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Wakes other processes' consumers of the queues this process published to: sends their
/// `NOTIFY` after the commits that published, on one connection of its own, many commits'
/// queues in one statement.
///
/// A `NOTIFY` sent inside the publishing transaction makes its commit take a lock that
/// PostgreSQL holds until the commit's WAL is flushed, one committing transaction at a time (it
/// keeps the notification queue in commit order). Every commit that published anything queued on
/// it, so their flushes could not be grouped: measured with pgbench (8–16 clients, each commit
/// inserting a row), a `NOTIFY` in the transaction cut the commit rate from 19,000 to 10,000/s,
/// and one sent just after it, in a transaction of its own, to 14,000/s. A transaction that only
/// notifies writes no WAL before its commit record, so PostgreSQL commits it without waiting for
/// a flush (`synchronous_commit` is left as it is), and holds the lock for microseconds.
///
/// Here one statement is in flight at a time: the queues of the commits that end meanwhile are
/// sent together next. A notification follows its commit by a round trip or two; if the process
/// dies in between, or the connection turns out to be gone, the consumers elsewhere find the
/// messages at their next poll (``ConsumerConfiguration/pollInterval``), as they do after any
/// missed notification, unless the notifier sends them first on a new connection. On graceful
/// shutdown it sends what is pending and stops, so it should shut down after the consumers whose
/// commits it reports.
///
/// A publisher without a notifier (an operator command, a test), or whose notifier holds no
/// connection (``isConnected``), notifies inside its transaction instead
/// (``MessageInsert/init(_:notifyAtCommit:)``, ``Wakeups/notifiesAtCommit``).
public final class BusNotifier: Service, Sendable {
    let client: PostgresClient
    let logger: Logger
    private let pending = Mutex<Set<String>>([])
    private let connected = Atomic<Bool>(false)
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation
    private var watchdog: ConnectionWatchdog { ConnectionWatchdog(timeout: .seconds(5), drain: .seconds(1), logger: logger) }

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        (doorbell, ring) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether the notifier holds a connection to send on: false until it has one, and from a
    /// failure until it has another (a connection the server ended is found out when the next
    /// notification is due).
    public var isConnected: Bool { connected.load(ordering: .relaxed) }

    /// Notifies the consumers of `queues` soon (call it after the commit that published to them).
    public func notify(_ queues: Set<String>) {
        guard !queues.isEmpty else { return }
        pending.withLock { $0.formUnion(queues) }
        ring.yield()
    }

    /// Runs until a graceful shutdown, then sends what is pending and stops; if that takes
    /// longer than ``drain`` (the database is down, say), what is pending is dropped: the
    /// consumers elsewhere poll. A notifier runs once.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.sendLoop() }
            group.addTask {
                guard (try? await gracefulShutdown()) != nil else { return }
                try? await Task.sleep(for: Self.drain)
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// How long the notifier may take to stop after a graceful shutdown began.
    static let drain = Duration.seconds(1)

    private struct ConnectionClosed: Error, CustomStringConvertible {
        var description: String { "the server closed the connection" }
    }

    private func sendLoop() async {
        var rings = doorbell.makeAsyncIterator()
        var backoff = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        await withGracefulShutdownHandler {
            while true {
                do {
                    try await client.withConnection { connection in
                        connected.store(true, ordering: .relaxed)
                        defer { connected.store(false, ordering: .relaxed) }
                        while await rings.next(isolation: #isolation) != nil {
                            // Gone while it waited: send on the next connection (below).
                            guard !connection.isClosed else { throw ConnectionClosed() }
                            try await send(on: connection)
                            backoff.reset()
                        }
                        // Stopping: what the last commits published.
                        try await send(on: connection)
                    }
                    return
                } catch {
                    if Task.isCancelled { return }
                    if Task.isShuttingDownGracefully {
                        logger.debug("bus notifier stopped without sending its last notifications", metadata: [
                            "error": "\(error.diagnosticDescription)",
                        ])
                        return
                    }
                    logger.warning("notifying other processes failed; trying again on a new connection", metadata: [
                        "error": "\(error.diagnosticDescription)",
                    ])
                    try? await Task.sleep(for: backoff.next())
                    // Send what it kept once a connection is back.
                    ring.yield()
                }
            }
        } onGracefulShutdown: {
            self.ring.finish()
        }
    }

    /// Sends the pending queues' notifications, under a watchdog (a statement on a connection
    /// that died may never be answered); puts them back if that fails.
    private func send(on connection: PostgresConnection) async throws {
        let queues = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        guard !queues.isEmpty else { return }
        let logger = logger
        do {
            try await watchdog.run(on: connection, "notifying the consumers of \(queues.count) queues") {
                try await MessagePublisher.notify(queues, on: connection, logger: logger)
            }
        } catch {
            pending.withLock { $0.formUnion(queues) }
            throw error
        }
    }
}
