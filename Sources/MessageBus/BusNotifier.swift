import Database
import EvenTicketContracts
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Wakes consumers once a transaction that published messages has committed: this process's
/// own consumers at once, other processes through a coalesced `NOTIFY`.
///
/// A `NOTIFY` inside a business transaction would serialise every such commit behind one
/// cluster-wide lock that is held through the commit's WAL flush, which defeats group commit.
/// So publishing transactions do not notify; after they commit, their queues are handed to
/// ``wake(_:)``, and one small transaction with `synchronous_commit` off (a wake-up is a hint,
/// not data: consumers also poll) notifies every queue that was woken since the last one.
public final class BusNotifier: Service, Sendable {
    private struct State {
        var pending: Set<String> = []
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let wakeups: Wakeups
    private let logger: Logger

    public init(client: PostgresClient, wakeups: Wakeups, logger: Logger) {
        self.client = client
        self.wakeups = wakeups
        self.logger = logger
    }

    /// The queues that `messages` go to and that consumers should hear about now (delayed
    /// messages wake nobody; the consumers' poll finds them).
    public static func queuesToWake(_ messages: [OutgoingMessage]) -> Set<String> {
        Set(messages.lazy.filter { $0.delay <= .zero }.map(\.queue.rawValue))
    }

    /// Call after the publishing transaction committed.
    public func wake(_ queues: Set<String>) {
        guard !queues.isEmpty else { return }
        for queue in queues { wakeups.signal(queue) }
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.pending.formUnion(queues)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let queues = await self.nextQueues()
                guard !queues.isEmpty else { continue }
                do {
                    _ = try await self.client.query(
                        """
                        SELECT set_config('synchronous_commit', 'off', true), pg_notify(\(MessagePublisher.channel), q)
                          FROM unnest(\(queues.sorted())::text[]) AS q
                        """,
                        logger: self.logger
                    ).collect()
                } catch {
                    // Other processes' consumers still poll; nothing is lost, only later.
                    self.logger.debug("could not notify", metadata: ["error": "\(error.diagnosticDescription)"])
                }
            }
        }
    }

    /// Waits until some queue was woken, then takes all of them.
    private func nextQueues() async -> Set<String> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if !state.pending.isEmpty || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        return state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }
}
