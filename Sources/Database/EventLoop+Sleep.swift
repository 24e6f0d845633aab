import NIOCore

extension EventLoop {
    /// Sleeps for `duration` on a timer of this event loop; throws `CancellationError` when the
    /// task is cancelled. `Task.sleep` arms its timer through Dispatch's threads (a thread
    /// woken to arm it, and again to cancel it).
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: .now() + TimeAmount(duration))
    }

    /// Suspends until `deadline` on a timer of this event loop; throws `CancellationError` when
    /// the task is cancelled first.
    public func sleep(until deadline: NIODeadline) async throws {
        let scheduled = scheduleTask(deadline: deadline) {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }
}
