import Database
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Orchestrator
import Ordering
import PostgresNIO
import Synchronization
import Testing
@testable import HTTPAPI

/// The order intake's writers, as a process that is being cancelled sees them.
@Suite("Order intake", .timeLimit(.minutes(2)))
struct OrderIntakeTests {
    static func placement() -> OrderIntake.Placement {
        OrderIntake.Placement(
            order: OrderStore.NewOrder(
                customerID: "intake-test", eventID: UUID(), lines: [Order.Line(ticketTypeId: UUID(), quantity: 1)],
                totalCents: 1_000, currency: "EUR", request: "{}", idempotencyKey: nil),
            paymentToken: "tok_visa")
    }

    @Test func aRequestAfterTheWritersStoppedIsAnswered503AndNotLeftWaiting() async throws {
        try await TestSystem.withDatabase { client, logger in
            let intake = OrderIntake(client: client, engine: SagaEngine(stepTimeout: .seconds(30)), wakeups: nil, logger: logger)
            let running = Task { try await intake.run() }
            try await Task.sleep(for: .milliseconds(100))
            running.cancel()
            try await running.value
            // Nothing would write it now: it must be answered, not queued for ever (it was).
            let answer = Mutex<String?>(nil)
            Task {
                let text: String
                do {
                    _ = try await intake.place(Self.placement())
                    text = "placed"
                } catch let error as ServiceUnavailable {
                    text = "503: \(error.detail)"
                } catch {
                    text = "\(error)"
                }
                answer.withLock { $0 = text }
            }
            #expect(try await eventually(timeout: .seconds(10)) { answer.withLock { $0 } != nil }, "the request was left waiting")
            #expect(answer.withLock { $0 } == "503: The server is stopping; try again shortly.")
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM ordering.orders", client: client, logger: logger) == 0)
        }
    }

    /// A deferred trigger that fails the commit of an order from `customer`, after its
    /// statement has returned its rows.
    static func failCommits(of customer: String, client: PostgresClient, logger: Logger) async throws {
        for statement: PostgresQuery in [
            """
            CREATE FUNCTION public.fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$
            """,
            PostgresQuery(unsafeSQL: """
                CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON ordering.orders
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                    WHEN (NEW.customer_id = '\(customer)') EXECUTE FUNCTION public.fail_at_commit()
                """),
        ] {
            _ = try await client.query(statement, logger: logger).collect()
        }
    }

    /// With the process's notifier connected (as in `serve`), the intake answered on the
    /// statement's rows, before the implicit commit: an order whose commit then failed was
    /// answered placed, and was not there.
    @Test func anOrderWhoseCommitFailsIsNotAnsweredAsPlaced() async throws {
        try await TestSystem.withDatabase { client, logger in
            try await Self.failCommits(of: "intake-test", client: client, logger: logger)
            let notifier = BusNotifier(client: client, logger: logger)
            let intake = OrderIntake(client: client, engine: SagaEngine(stepTimeout: .seconds(30)), wakeups: Wakeups(notifier: notifier), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.run() }
                group.addTask { try await intake.run() }
                defer { group.cancelAll() }
                let connected = try await eventually(timeout: .seconds(10)) { notifier.isConnected }
                #expect(connected, "the notifier did not connect")
                let answer: String
                do {
                    answer = "placed: \(try await intake.place(Self.placement()))"
                } catch {
                    answer = "\(type(of: error))"
                }
                // Its outcome unknown: the confirming `SELECT 1` failed, or (as seen here) the
                // failed commit closed the connection, the `SELECT 1` queued on it was never
                // answered (postgres-nio), and the watchdog ended the wait a second later.
                #expect(["CommitOutcomeUnknown", "StalledConnectionError"].contains(answer), "\(answer)")
                let stored = try await TestSystem.scalar("SELECT count(*)::int FROM ordering.orders", client: client, logger: logger)
                #expect(stored == 0)
            }
        }
    }

    /// Through the API: such an order is answered 503, and the intake goes on.
    @Test func anOrderWhoseCommitFailsIsAnswered503AndNothingIsStored() async throws {
        try await TestSystem.run { system in
            try await Self.failCommits(of: "fails-at-commit", client: system.client, logger: system.logger)
            let (event, type) = try await system.createEvent(capacity: 10)
            let refused = try await system.request(
                .post, "/orders", json: system.orderJSON(event: event, ticketType: type, customer: "fails-at-commit"), as: .role(.client))
            #expect(refused.status == .serviceUnavailable, "\(refused.status): \(refused.text)")
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 0)
            #expect(try await system.scalar("SELECT count(*)::int FROM orchestrator.sagas") == 0)
            // The intake goes on: the next order is placed.
            let placed = try await system.request(.post, "/orders", json: system.orderJSON(event: event, ticketType: type), as: .role(.client))
            #expect(placed.status == .accepted, "\(placed.text)")
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 1)
        }
    }
}
