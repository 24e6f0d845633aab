@testable import Database
import EvenTicketTesting
import Foundation
import PostgresNIO
import Testing

/// A one-shot command's pool runs while its work runs and is shut down after it, without
/// waiting for good on a shutdown that never ends.
@Suite("Pool shutdown", .timeLimit(.minutes(1)))
struct PoolShutdownTests {
    @Test func theWorkRunsOnTheRunningPoolAndItsResultIsReturned() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 2), backgroundLogger: TestLogger.make())
            let answer = try await client.running(logger: TestLogger.make()) {
                try await client.query("SELECT 41 + 1", logger: TestLogger.make()).decode(Int.self).lastElement()
            }
            #expect(answer == 42)
        }
    }

    @Test func theWorksErrorIsThrownAfterThePoolIsShutDown() async throws {
        try await TestDatabases.shared.withDatabase { (url: DatabaseURL) async throws in
            let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 2), backgroundLogger: TestLogger.make())
            await #expect(throws: PSQLError.self) {
                try await client.running(logger: TestLogger.make()) {
                    try await client.query("SELECT no_such_column", logger: TestLogger.make()).collect()
                }
            }
        }
    }

    @Test func aTaskThatEndsInTimeIsWaitedFor() async {
        let task = Task { _ = try? await Task.sleep(for: .milliseconds(50)) }
        #expect(await PostgresClient.wait(for: task, atMost: .seconds(20)))
    }

    @Test func aTaskThatDoesNotEndInTimeIsLeft() async {
        // Ignores cancellation, as the pool's task did.
        let task = Task { await uncancellableSleep(seconds: 5) }
        let start = ContinuousClock.now
        #expect(await PostgresClient.wait(for: task, atMost: .milliseconds(300)) == false)
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test func aCancelledCallerStillWaitsItsTime() async {
        let task = Task { await uncancellableSleep(seconds: 1) }
        let waiter = Task { await PostgresClient.wait(for: task, atMost: .seconds(20)) }
        waiter.cancel()
        #expect(await waiter.value)
    }

    private func uncancellableSleep(seconds: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
    }
}
