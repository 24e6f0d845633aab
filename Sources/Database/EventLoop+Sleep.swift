import NIOCore

extension EventLoop {
    /// Sleeps for `duration` on a timer of this event loop; throws `CancellationError` when the
    /// task is cancelled. `Task.sleep` arms its timer through Dispatch's threads (a thread
    /// woken to arm it, and again to cancel it), which the watchdog paid for every batch.
    public func sleep(for duration: Duration) async throws {
        let (seconds, attoseconds) = duration.components
        let scheduled = scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) {}
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
