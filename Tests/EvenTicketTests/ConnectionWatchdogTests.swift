import Database
import EvenTicketApp
import EvenTicketTesting
import Foundation
import Metrics
import PostgresNIO
import ServiceLifecycle
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

    @Test func everyKindOfStallIsExportedAtZeroOnceRegistered() async {
        let export = PrometheusExport()
        withMetricsFactory(export.factory) { ConnectionWatchdog.registerMetrics() }
        for kind in ["timeout", "shutdown", "connection_closed"] {
            #expect(MetricsTests.value("eventicket_db_stalls_total{kind=\"\(kind)\"}", in: export) == 0)
        }
    }

    @Test func workThatOutlivesItsClosedConnectionIsAbandonedAndTheCallerCarriesOn() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
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
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="timeout"}"#, in: export) == 1)
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="connection_closed"}"#, in: export) == nil)
    }

    /// The stall seen under chaos: an await that outlives its connection. The watchdog sees the
    /// connection closed and abandons the work within seconds, long before its timeout.
    @Test func workWhoseConnectionClosesUnderItIsAbandonedWithoutWaitingForTheTimeout() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                let stuck = Stuck()
                let watchdog = ConnectionWatchdog(timeout: .seconds(120), drain: .seconds(120), logger: logger)
                let started = ContinuousClock.now
                await #expect(throws: StalledConnectionError.self) {
                    try await client.withConnection { connection in
                        let closer = Task {
                            try await Task.sleep(for: .milliseconds(300))
                            try await connection.close()
                        }
                        defer { closer.cancel() }
                        return try await watchdog.run(on: connection, "a batch whose connection closes") {
                            await stuck.wait()
                            return 1
                        }
                    }
                }
                #expect(ContinuousClock.now - started < .seconds(10))
                stuck.release()
            }
        }
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="connection_closed"}"#, in: export) == 1)
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="timeout"}"#, in: export) == nil)
    }

    /// postgres-nio never answers a query sent on a connection that was closed before it (1.33.2),
    /// nor throws: under the watchdog the caller gets an error within seconds.
    @Test func aQueryOnAConnectionClosedBeforeItEndsWithinSeconds() async throws {
        try await TestSystem.withDatabase { client, logger in
            let watchdog = ConnectionWatchdog(timeout: .seconds(120), drain: .seconds(120), logger: logger)
            let started = ContinuousClock.now
            await #expect(throws: (any Error).self) {
                try await client.withConnection { connection in
                    try await connection.close()
                    return try await watchdog.run(on: connection, "a query on a closed connection") {
                        try await connection.query("SELECT 1", logger: logger).collect().count
                    }
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    /// A request's read goes through `withConnection(waitingAtMost:watchedBy:_:_:)`: one that
    /// stalls ends as "database unavailable" (a 503 for the client) within seconds, and the
    /// pool's connection is not lost to it.
    @Test func aStalledReadFailsAsDatabaseUnavailableWithinSeconds() async throws {
        try await TestSystem.withDatabase { client, logger in
            let watchdog = ConnectionWatchdog(timeout: .seconds(120), drain: .seconds(120), logger: logger)
            let started = ContinuousClock.now
            do {
                _ = try await client.withConnection(waitingAtMost: .seconds(5), watchedBy: watchdog, "a read") { connection in
                    try await connection.close()
                    return try await connection.query("SELECT 1", logger: logger).collect().count
                }
                Issue.record("a read on a closed connection returned")
            } catch {
                #expect(error.isDatabaseUnavailable, "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            let answer = try await client.withConnection(waitingAtMost: .seconds(5), watchedBy: watchdog, "a read") { connection in
                try await connection.query("SELECT 42", logger: logger).collect().first?.decode(Int.self)
            }
            #expect(answer == 42)
        }
    }

    /// Once a graceful shutdown begins, work has `drain` left, whether it was running then or
    /// started after: work still stuck then has its connection closed (counted as `shutdown`)
    /// and is abandoned, and the service stops.
    @Test(arguments: [false, true])
    func stuckWorkIsClosedWhenTheDrainAfterAGracefulShutdownEnds(startsAfterTheShutdown: Bool) async throws {
        let export = PrometheusExport()
        let drain = Duration.milliseconds(600)
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                let stuck = Stuck()
                let watchdog = ConnectionWatchdog(timeout: .seconds(120), drain: drain, logger: logger)
                let outcome = Mutex<(any Error)?>(nil)
                let (running, workStarted) = AsyncStream.makeStream(of: Void.self)
                let service = Worker {
                    if startsAfterTheShutdown { try? await gracefulShutdown() }
                    do {
                        _ = try await client.withConnection { connection in
                            try await watchdog.run(on: connection, "a batch stuck at shutdown", abandonAfter: .milliseconds(300)) {
                                workStarted.yield()
                                await stuck.wait()
                                return 1
                            }
                        }
                    } catch {
                        outcome.withLock { $0 = error }
                    }
                }
                let group = ServiceGroup(configuration: .init(
                    services: [.init(service: service)], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    if !startsAfterTheShutdown { for await _ in running { break } }
                    let shutdownBegan = ContinuousClock.now
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    let took = ContinuousClock.now - shutdownBegan
                    #expect(took >= drain, "the work had its drain")
                    #expect(took < .seconds(10))
                }
                #expect(outcome.withLock { $0 } is StalledConnectionError)
                stuck.release()
            }
        }
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="shutdown"}"#, in: export) == 1)
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="timeout"}"#, in: export) == nil)
    }

    /// The watchdog's timer dies with the work: a connection whose work ended is not closed
    /// when the work's timeout would have passed.
    @Test func aConnectionOutlivesTheTimeoutOfWorkThatEnded() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                let watchdog = ConnectionWatchdog(timeout: .milliseconds(200), drain: .milliseconds(200), logger: logger)
                try await client.withConnection { connection in
                    for round in 1...3 {
                        let value = try await watchdog.run(on: connection, "a quick statement") {
                            try await connection.query("SELECT \(round)", logger: logger).collect().first?.decode(Int.self)
                        }
                        #expect(value == round)
                    }
                    try await Task.sleep(for: .milliseconds(700))
                    #expect(!connection.isClosed)
                    let answer = try await connection.query("SELECT 42", logger: logger).collect().first?.decode(Int.self)
                    #expect(answer == 42)
                }
            }
        }
        #expect(MetricsTests.value(#"eventicket_db_stalls_total{kind="timeout"}"#, in: export) == nil)
    }

    /// A service that runs `body` once.
    struct Worker: Service {
        let body: @Sendable () async -> Void
        func run() async { await body() }
    }

    /// Work that ends in time returns its value: a quick statement, and one that runs past the
    /// watchdog's looks at its connection (which stays open: a long statement is not a stall).
    @Test(arguments: [0.0, 2.5])
    func workThatEndsInTimeReturnsItsValue(seconds: Double) async throws {
        try await TestSystem.withDatabase { client, logger in
            let watchdog = ConnectionWatchdog(timeout: .seconds(30), drain: .seconds(8), logger: logger)
            let value = try await client.withConnection { connection in
                try await watchdog.run(on: connection, "a statement of \(seconds) s") {
                    try await connection.query("SELECT 7 FROM pg_sleep(\(seconds))", logger: logger).collect().first?.decode(Int.self) ?? 0
                }
            }
            #expect(value == 7)
        }
    }
}
