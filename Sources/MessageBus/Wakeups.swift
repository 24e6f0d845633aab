import Synchronization

/// Wake-up signals for consumers, one per queue name.
///
/// A consumer reads the queue's ``generation(of:)`` before it claims; if the claim comes back
/// empty it waits ``wait(for:since:upTo:)``, which returns at once when a signal arrived in
/// between, so no notification is lost in the gap. A signal wakes one waiting consumer, not
/// all of them: a consumer whose claim came back full signals again, so more of them join in
/// only while there is work for them (no thundering herd of empty claims).
public final class Wakeups: Sendable {
    private struct Waiter {
        var queue: String
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var generations: [String: Int] = [:]
        var epoch = 0
        var waiters: [Int: Waiter] = [:]
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The signal count for a queue so far.
    public func generation(of queue: String) -> Int {
        state.withLock { $0.generations[queue, default: 0] + $0.epoch }
    }

    /// Wakes one waiting consumer of `queue` (the one that has waited longest).
    public func signal(_ queue: String) {
        let woken = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.generations[queue, default: 0] += 1
            guard let id = state.waiters.filter({ $0.value.queue == queue }).keys.min() else { return nil }
            return state.waiters.removeValue(forKey: id)?.continuation
        }
        woken?.resume()
    }

    /// Wakes one waiting consumer of each of `queues`.
    public func signal(_ queues: Set<String>) {
        for queue in queues { signal(queue) }
    }

    /// Wakes every consumer of every queue (after a reconnect, or to shut down).
    public func signalAll() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.epoch += 1
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        woken.forEach { $0.resume() }
    }

    /// Waits until `queue` is signalled after `generation`, or `timeout` passes, or the task is
    /// cancelled; true when a signal ended the wait.
    @discardableResult
    public func wait(for queue: String, since generation: Int, upTo timeout: Duration) async -> Bool {
        if self.generation(of: queue) != generation { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForSignal(queue, since: generation)
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let signalled = await group.next() ?? false
            group.cancelAll()
            return signalled
        }
    }

    private func waitForSignal(_ queue: String, since generation: Int) async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil { return true }
                    if state.generations[queue, default: 0] + state.epoch != generation { return true }
                    state.waiters[id] = Waiter(queue: queue, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter.continuation }
                state.cancelled.insert(id)
                return nil
            }
            continuation?.resume()
        }
    }
}
