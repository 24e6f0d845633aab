import Database
import NIOCore
import NIOPosix
import Testing

/// The watchdog's timers run on an event loop instead of `Task.sleep`'s Dispatch threads.
@Suite("Event-loop sleep", .timeLimit(.minutes(1)))
struct EventLoopSleepTests {
    @Test func sleepsAtLeastItsDuration() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await MultiThreadedEventLoopGroup.singleton.any().sleep(for: .milliseconds(120))
        #expect(clock.now - start >= .milliseconds(120))
    }

    @Test func cancellationEndsTheSleepWithCancellationError() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let sleeping = Task { try await MultiThreadedEventLoopGroup.singleton.any().sleep(for: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        sleeping.cancel()
        await #expect(throws: CancellationError.self) { try await sleeping.value }
        #expect(clock.now - start < .seconds(10))
        // Already cancelled before it starts: it does not sleep at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await MultiThreadedEventLoopGroup.singleton.any().sleep(for: .seconds(30))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }
}
