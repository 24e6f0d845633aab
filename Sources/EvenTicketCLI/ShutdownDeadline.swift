import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Ends the process when a graceful shutdown has not finished `limit` after SIGTERM or SIGINT.
///
/// Every service drains within a few seconds (consumers cancel batches still busy after 8 s, and
/// a stalled connection is closed). Rarely, under connection terminations, an await on
/// postgres-nio stays pending even after its connection was closed, and a task cannot be made to
/// give it up. Exiting is then safe: whatever the process held is in open transactions, which
/// PostgreSQL rolls back, so its messages go back to the queue. The exit status, 75, tells a
/// supervisor that the process stopped without finishing its shutdown.
struct ShutdownDeadline: Service {
    static let exitStatus: Int32 = 75
    /// Run just before that exit (`dev` stops its PostgreSQL there).
    static let beforeExit = Mutex<(@Sendable () -> Void)?>(nil)
    let limit: Duration
    let logger: Logger

    func run() async throws {
        // Its own graceful shutdown comes last (it is the first service), once every other
        // service has stopped; but the process still has its pools to shut down after that (up
        // to 10 s each), so the deadline, once armed by the signal, stays armed until the
        // process ends, in a task of its own.
        await cancelWhenGracefulShutdown {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
            guard !Task.isCancelled else { return }
            let (limit, logger) = (limit, logger)
            Task.detached {
                try? await Task.sleep(for: limit)
                logger.critical("shutdown did not finish in time; exiting", metadata: ["limit": "\(limit)"])
                Self.beforeExit.withLock { $0 }?()
                // Not `exit`: the main thread may be calling it meanwhile (the drain coming
                // unstuck), and glibc's `exit` is not safe to run twice at once.
                fflush(nil)
                _exit(Self.exitStatus)
            }
            // Its own turn to stop.
            try? await gracefulShutdown()
        }
    }
}
