import Database
import EvenTicketTesting
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import Orchestrator

/// The sweeper against the database: one saga whose deadline cannot fire must not stop the
/// deadlines of the others.
@Suite("Deadline sweeper", .timeLimit(.minutes(2)))
struct DeadlineSweeperTests {
    @Test func aSagaWhoseDeadlineCannotFireIsPutOffAndTheOthersStillFire() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (bad, _) = try await DeadlineAlarmTests.start(engine, client: client, logger: logger)
            let (good, _) = try await DeadlineAlarmTests.start(engine, client: client, logger: logger)
            // Both deadlines have passed, and the bad saga's alarm rang first: it leads every
            // batch. Its row names a step no build knows (a row edited by hand, or a step a
            // later build retired), so it does not make a saga.
            _ = try await client.query("UPDATE orchestrator.sagas SET due_at = now() - interval '1 second'", logger: logger).collect()
            _ = try await client.query("""
                UPDATE orchestrator.deadlines
                   SET due_at = now() - CASE WHEN saga_id = \(bad) THEN interval '2 seconds' ELSE interval '1 second' END
                """, logger: logger).collect()
            _ = try await client.query("UPDATE orchestrator.sagas SET step = 'retired_step' WHERE id = \(bad)", logger: logger).collect()

            let sweeper = DeadlineSweeper(client: client, engine: engine, wakeups: nil, putOff: .seconds(60), logger: logger)
            #expect(try await sweeper.sweep() == 2)
            // The good saga's deadline fired: it compensates the stage it was waiting on.
            #expect(try await DeadlineAlarmTests.state(of: good, client: client, logger: logger) == "compensating")
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.messages WHERE saga_id = \(good) AND type IN ('CancelInvoice.v1', 'ReleaseTickets.v1')",
                client: client, logger: logger) == 2)
            // The bad one is as it was, its alarm a minute ahead.
            #expect(try await DeadlineAlarmTests.state(of: bad, client: client, logger: logger) == "running")
            let clock = try await DeadlineAlarmTests.clock(of: bad, client: client, logger: logger)
            let alarm = try #require(clock.alarm)
            #expect(abs(alarm - clock.now - 60) < 5)
            // Nothing else has rung: the next sweep finds nothing, and fails nothing.
            #expect(try await sweeper.sweep() == 0)
        }
    }
}
