import NIOCore
import NIOPosix
import Synchronization

/// Wake-up signals for consumers, one per queue name.
///
/// A consumer reads the queue's ``generation(of:)`` before it claims; if the claim comes back
/// empty it waits ``wait(for:since:upTo:)``, which returns at once when a signal arrived in
/// between, so no notification is lost in the gap. A signal wakes one waiting consumer, not
/// all of them: a consumer whose claim came back full signals again, so more of them join in
/// only while there is work for them (no thundering herd of empty claims).
///
/// A wait is one continuation with a timer on an event loop: a signal resumes it directly.
/// (It was a task group racing the signal against `Task.sleep`, whose timer went through
/// Dispatch's threads: two child tasks, a timer armed and cancelled on another thread, and
/// several task hops between a notification and the claim it wakes.)
public final class Wakeups: Sendable {
    private struct Waiter {
        var queue: String
        var continuation: CheckedContinuation<Bool, Never>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var generations: [String: Int] = [:]
        var epoch = 0
        var waiters: [Int: Waiter] = [:]
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop
    /// Wakes the consumers in other processes after a commit; without one, or while it has no
    /// connection, publishers notify them at commit (see ``notifiesAtCommit``).
    public let notifier: BusNotifier?

    /// `eventLoop` runs the waits' timers.
    public init(notifier: BusNotifier? = nil, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.notifier = notifier
        self.eventLoop = eventLoop
    }

    /// Whether a publisher that uses these wakeups should have its commit notify the consumers
    /// in other processes: when there is no ``notifier`` to do it afterwards, or it holds no
    /// connection (it is starting, or reconnecting after a failure).
    public var notifiesAtCommit: Bool { notifier?.isConnected != true }

    /// After the commit that published `messages`: wakes the consumers of their queues (those
    /// with a message due now), here at once, and in other processes through the ``notifier``.
    public func committed(_ messages: [OutgoingMessage]) {
        let queues = MessagePublisher.queuesToWake(messages)
        signal(queues)
        notifier?.notify(queues)
    }

    /// The signal count for a queue so far.
    public func generation(of queue: String) -> Int {
        state.withLock { $0.generations[queue, default: 0] + $0.epoch }
    }

    /// Wakes one waiting consumer of `queue` (the one that has waited longest).
    public func signal(_ queue: String) {
        let woken = state.withLock { state -> Waiter? in
            state.generations[queue, default: 0] += 1
            guard let id = state.waiters.filter({ $0.value.queue == queue }).keys.min() else { return nil }
            return state.waiters.removeValue(forKey: id)
        }
        if let woken { Self.end(woken, signalled: true) }
    }

    /// Wakes one waiting consumer of each of `queues`.
    public func signal(_ queues: Set<String>) {
        for queue in queues { signal(queue) }
    }

    /// Wakes every consumer of every queue (after a reconnect, or to shut down).
    public func signalAll() {
        let woken = state.withLock { state -> [Waiter] in
            state.epoch += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { Self.end(waiter, signalled: true) }
    }

    /// How many tasks wait now (for tests).
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Waits until `queue` is signalled after `generation`, or `timeout` passes, or the task is
    /// cancelled; true when a signal ended the wait.
    @discardableResult
    public func wait(for queue: String, since generation: Int, upTo timeout: Duration) async -> Bool {
        let id = state.withLock { state -> Int? in
            if state.generations[queue, default: 0] + state.epoch != generation { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow = state.withLock { state -> Bool? in
                    if state.cancelled.remove(id) != nil { return false }
                    if state.generations[queue, default: 0] + state.epoch != generation { return true }
                    state.waiters[id] = Waiter(queue: queue, continuation: continuation)
                    return nil
                }
                if let resumeNow {
                    continuation.resume(returning: resumeNow)
                    return
                }
                let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                    if let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) { waiter.continuation.resume(returning: false) }
                }
                // A signal may have ended the wait before the timer was set: then cancel it.
                let armed = state.withLock { state -> Bool in
                    guard state.waiters[id] != nil else { return false }
                    state.waiters[id]?.timer = timer
                    return true
                }
                if !armed { timer.cancel() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            if let waiter { Self.end(waiter, signalled: false) }
        }
    }

    private static func end(_ waiter: Waiter, signalled: Bool) {
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: signalled)
    }
}
