import Synchronization

/// Lets a counted handling run alone among the handlings of its process (see ``BusConsumer``'s
/// counted handlings): a crash ends every transaction of the process, so a crash during a
/// counted handling can be blamed on its message only if nothing else was being handled.
///
/// Batches go through side by side, sharing the gate; a counted handling waits until those in
/// progress are done and holds back new ones until it is. Waiting counted handlings go first, so
/// that batches claimed all the time cannot starve them. One gate serves every consumer of a
/// process.
public final class HandlingGate: Sendable {
    private struct State {
        var sharing = 0
        var exclusive = false
        var waitingExclusive: [CheckedContinuation<Void, Never>] = []
        var waitingShared: [CheckedContinuation<Void, Never>] = []

        /// Lets a shared holder in at once, if it may go.
        mutating func admitShared() -> Bool {
            guard !exclusive, waitingExclusive.isEmpty else { return false }
            sharing += 1
            return true
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Runs `body` beside other shared holders, but not beside an exclusive one.
    func shared<T>(_ body: () async throws -> T) async rethrows -> T {
        if !state.withLock({ $0.admitShared() }) {
            await withCheckedContinuation { continuation in
                let admitted = state.withLock { state in
                    if state.admitShared() { return true }
                    state.waitingShared.append(continuation)
                    return false
                }
                if admitted { continuation.resume() }
            }
        }
        defer { leaveShared() }
        return try await body()
    }

    /// Runs `body` alone: no other holder, shared or exclusive, runs meanwhile.
    func exclusive<T>(_ body: () async throws -> T) async rethrows -> T {
        await withCheckedContinuation { continuation in
            let admitted = state.withLock { state in
                guard state.exclusive || state.sharing > 0 else {
                    state.exclusive = true
                    return true
                }
                state.waitingExclusive.append(continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
        defer { leaveExclusive() }
        return try await body()
    }

    private func leaveShared() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.sharing -= 1
            guard state.sharing == 0, !state.waitingExclusive.isEmpty else { return nil }
            state.exclusive = true
            return state.waitingExclusive.removeFirst()
        }
        next?.resume()
    }

    private func leaveExclusive() {
        let (next, shared) = state.withLock { state -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            if !state.waitingExclusive.isEmpty { return (state.waitingExclusive.removeFirst(), []) }
            state.exclusive = false
            let shared = state.waitingShared
            state.waitingShared = []
            state.sharing += shared.count
            return (nil, shared)
        }
        next?.resume()
        for continuation in shared { continuation.resume() }
    }
}
