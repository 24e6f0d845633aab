import Logging
import PostgresNIO
import Synchronization

extension PostgresClient {
    /// Runs the pool while `body` runs, then shuts it down, waiting at most `shutdownLimit` for
    /// it to finish; for a one-shot command (the bench, an operator command) that must end
    /// once its work is done.
    ///
    /// postgres-nio 1.33.2's pool was seen not to finish its shutdown after a bench: every
    /// connection was closed, yet `run()` never returned, and a task group waiting on it held
    /// the report back for good (a second signal did not help either). Past the limit the pool's
    /// task is abandoned with a warning; the process is about to end anyway.
    public func running<T>(
        shutdownWithin shutdownLimit: Duration = .seconds(10), logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        let pool = Task { await self.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        pool.cancel()
        if await !Self.wait(for: pool, atMost: shutdownLimit) {
            logger.warning("the connection pool did not shut down in time; going on without waiting for it",
                           metadata: ["waited": "\(shutdownLimit)"])
        }
        return try result.get()
    }

    /// Whether `task` ended within `limit`. Waits even when the caller is cancelled: shutting
    /// down is what a cancelled caller does.
    static func wait(for task: Task<Void, Never>, atMost limit: Duration) async -> Bool {
        let race = FirstAnswer()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            race.set(continuation)
            // Neither is a child of the caller: a cancelled caller still gets its full wait.
            let timer = Task {
                try? await Task.sleep(for: limit)
                race.answer(false)
            }
            Task {
                await task.value
                race.answer(true)
                timer.cancel()
            }
        }
    }
}

/// A continuation resumed by whichever side answers first.
private final class FirstAnswer: Sendable {
    private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

    func set(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func answer(_ value: Bool) {
        continuation.withLock { $0.take() }?.resume(returning: value)
    }
}
