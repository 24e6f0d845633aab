import Database
import EvenTicketTesting
import Foundation
import PostgresNIO
import Synchronization
import Testing

@Suite("Connection watchdog", .timeLimit(.minutes(3)))
struct ConnectionWatchdogTests {
    /// An await that never returns and ignores cancellation, as a postgres-nio query sometimes
    /// does after its connection died under it.
    final class Stuck: Sendable {
        private let waiter = Mutex<CheckedContinuation<Void, Never>?>(nil)

        func wait() async {
            await withCheckedContinuation { continuation in waiter.withLock { $0 = continuation } }
        }

        func release() { waiter.withLock { $0?.resume(); $0 = nil } }
    }

    @Test func workThatOutlivesItsClosedConnectionIsAbandonedAndTheCallerCarriesOn() async throws {
        try await TestSystem.withDatabase { client, logger in
            let stuck = Stuck()
            let watchdog = ConnectionWatchdog(timeout: .milliseconds(300), drain: .seconds(8), logger: logger)
            let started = ContinuousClock.now
            await #expect(throws: StalledConnectionError.self) {
                try await client.withConnection { connection in
                    try await watchdog.run(on: connection, "a stuck batch", abandonAfter: .milliseconds(300)) {
                        await stuck.wait()
                        return 1
                    }
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(StalledConnectionError(work: "x").isConnectionFailure)
            // The pool still serves: the closed connection was handed back and replaced.
            let answer = try await client.query("SELECT 42", logger: logger).collect().first?.decode(Int.self)
            #expect(answer == 42)
            stuck.release()
        }
    }

    @Test func workThatEndsInTimeReturnsItsValue() async throws {
        try await TestSystem.withDatabase { client, logger in
            let watchdog = ConnectionWatchdog(timeout: .seconds(30), drain: .seconds(8), logger: logger)
            let value = try await client.withConnection { connection in
                try await watchdog.run(on: connection, "a quick batch") {
                    try await connection.query("SELECT 7", logger: logger).collect().first?.decode(Int.self) ?? 0
                }
            }
            #expect(value == 7)
        }
    }
}
