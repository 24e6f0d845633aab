import EvenTicketTesting
import Synchronization
import Testing
@testable import MessageBus

/// Consumers' wake-ups: a signal ends a wait at once, a wait without one ends at its timeout,
/// and none is lost between reading the generation and waiting.
@Suite("Wake-ups", .timeLimit(.minutes(1)))
struct WakeupsTests {
    final class Ended: Sendable {
        private let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .sequentiallyConsistent) }
        var count: Int { value.load(ordering: .sequentiallyConsistent) }
    }

    @Test func aSignalDuringTheWaitEndsItLongBeforeItsTimeout() async throws {
        let wakeups = Wakeups()
        let generation = wakeups.generation(of: "q")
        let clock = ContinuousClock()
        let start = clock.now
        async let signalled = wakeups.wait(for: "q", since: generation, upTo: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        wakeups.signal("q")
        #expect(await signalled)
        #expect(clock.now - start < .seconds(10))
    }

    @Test func aSignalBeforeTheWaitEndsItAtOnce() async {
        let wakeups = Wakeups()
        let generation = wakeups.generation(of: "q")
        wakeups.signal("q")
        #expect(await wakeups.wait(for: "q", since: generation, upTo: .seconds(30)))
    }

    @Test func aWaitWithoutSignalEndsAtItsTimeout() async {
        let wakeups = Wakeups()
        let clock = ContinuousClock()
        let start = clock.now
        wakeups.signal("other queue")
        #expect(await wakeups.wait(for: "q", since: wakeups.generation(of: "q"), upTo: .milliseconds(100)) == false)
        #expect(clock.now - start >= .milliseconds(100))
    }

    @Test func cancellingTheWaitingTaskEndsTheWait() async throws {
        let wakeups = Wakeups()
        let waiting = Task { await wakeups.wait(for: "q", since: wakeups.generation(of: "q"), upTo: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == false)
    }

    @Test func aSignalWakesOneWaiterAndSignalAllWakesEvery() async throws {
        let wakeups = Wakeups()
        let generation = wakeups.generation(of: "q")
        let ended = Ended()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    await wakeups.wait(for: "q", since: generation, upTo: .seconds(30))
                    ended.add()
                }
            }
            // All three wait before the signal (one that came later would find the generation
            // moved on and not wait at all).
            #expect(try await eventually(timeout: .seconds(10)) { wakeups.waitingCount == 3 })
            wakeups.signal("q")
            #expect(try await eventually(timeout: .seconds(10)) { ended.count == 1 })
            try await Task.sleep(for: .milliseconds(100))
            let afterOneSignal = ended.count
            #expect(afterOneSignal == 1, "one signal woke more than one waiter")
            wakeups.signalAll()
            try await group.waitForAll()
            let afterAll = ended.count
            #expect(afterAll == 3)
        }
    }
}
