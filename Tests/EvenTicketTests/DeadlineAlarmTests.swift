import Database
import EvenTicketApp
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Orchestrator
import OrderSaga
import PostgresNIO
import Testing

/// A saga's deadline lives on its row; `orchestrator.deadlines` holds an alarm no later than it,
/// written only when it must ring earlier (see `migrations/0012_deadline_alarms.sql`). These
/// tests drive the engine against the database and read both back.
@Suite("Deadline alarms", .timeLimit(.minutes(3)))
struct DeadlineAlarmTests {
    /// The saga's deadline and token, and its alarm (nil: none), as seconds since 1970, and
    /// the database's clock.
    struct Clock: Equatable {
        var deadline: Double?
        var token: Int?
        var alarm: Double?
        var now = 0.0

        /// The deadline in seconds from now.
        var deadlineFromNow: Double? { deadline.map { $0 - now } }
    }

    static func clock(of saga: UUID, client: PostgresClient, logger: Logger) async throws -> Clock {
        let rows = try await client.query("""
            SELECT extract(epoch FROM s.due_at)::float8, s.deadline_token, extract(epoch FROM a.due_at)::float8,
                   extract(epoch FROM now())::float8
              FROM orchestrator.sagas s LEFT JOIN orchestrator.deadlines a ON a.saga_id = s.id WHERE s.id = \(saga)
            """, logger: logger)
        for try await (deadline, token, alarm, now) in rows.decode((Double?, Int?, Double?, Double).self) {
            return Clock(deadline: deadline, token: token, alarm: alarm, now: now)
        }
        throw PermanentFailure("no saga \(saga)")
    }

    static func state(of saga: UUID, client: PostgresClient, logger: Logger) async throws -> String? {
        for try await state in try await client.query("SELECT state FROM orchestrator.sagas WHERE id = \(saga)", logger: logger)
            .decode(String.self) { return state }
        return nil
    }

    static func lateAlarms(client: PostgresClient, logger: Logger) async throws -> [ConsistencyAudit.Violation] {
        try await ConsistencyAudit(client: client).run(logger: logger).violations.filter { $0.check == "deadline_alarm_late" }
    }

    static func start(_ engine: SagaEngine, client: PostgresClient, logger: Logger) async throws -> (saga: UUID, order: UUID) {
        let order = UUID.timeOrdered()
        let saga = UUID.timeOrdered()
        let placed = OrderPlaced(orderID: order, customerID: "alarm-test", eventID: UUID(), lines: [OrderLine(ticketTypeID: UUID(), quantity: 1)],
                                 totalCents: 1_000, currency: "EUR", paymentToken: "tok_visa")
        _ = try await client.transaction(logger: logger) { connection in
            try await engine.start([.init(order: placed, sagaID: saga)], on: connection, logger: logger)
        }
        return (saga, order)
    }

    static func apply(_ engine: SagaEngine, _ input: SagaInput, to saga: UUID, client: PostgresClient, logger: Logger) async throws -> [OutgoingMessage] {
        try await client.transaction(logger: logger) { connection in
            try await engine.apply(input, sagaID: saga, messageID: UUID(), on: connection, logger: logger)
        }
    }

    static func fire(_ engine: SagaEngine, client: PostgresClient, logger: Logger) async throws -> (messages: [OutgoingMessage], count: Int) {
        try await client.transaction(logger: logger) { connection in
            let fired = try await engine.fireDeadlines(limit: 100, on: connection, logger: logger)
            return (fired.messages, fired.count)
        }
    }

    @Test(arguments: [false, true])
    func bothRepliesOfTheFirstStageInOneBatchStartTheCharge(invoiceFirst: Bool) async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, order) = try await Self.start(engine, client: client, logger: logger)
            let started = try await Self.clock(of: saga, client: client, logger: logger)
            let reserved = SagaInput.ticketsReserved(TicketsReserved(orderID: order, quantity: 1))
            let invoiced = SagaInput.invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1"))
            let inputs = invoiceFirst ? [invoiced, reserved] : [reserved, invoiced]
            try await Task.sleep(for: .milliseconds(50))
            let sent = try await client.transaction(logger: logger) { connection in
                try await engine.apply(inputs.map { .init(sagaID: saga, input: $0, messageID: UUID()) }, on: connection, logger: logger)
            }
            #expect(sent.map(\.envelope.typeName) == [ChargePayment.typeName])
            let charging = try #require(try await SagaQueries(client: client).saga(saga, logger: logger))
            #expect(charging.state == "running")
            #expect(charging.step == "chargePayment")
            #expect(charging.history?.filter { $0.kind == "received" }.map(\.message) == inputs.map(\.kind))
            let clock = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(clock.token == 2)
            #expect((clock.deadline ?? 0) > (started.deadline ?? .infinity))
            let finished = invoiceFirst ? "{createInvoice,reserveTickets}" : "{reserveTickets,createInvoice}"
            var stored: [String] = []
            for try await steps in try await client.query("SELECT finished_steps::text FROM orchestrator.sagas", logger: logger).decode(String.self) {
                stored.append(steps)
            }
            #expect(stored == [finished])

            // The stored saga, finished steps in either order, carries on.
            let confirmed = try await Self.apply(
                engine, .paymentCharged(PaymentCharged(orderID: order, chargeID: UUID(), amountCents: 1_000)), to: saga, client: client, logger: logger)
            #expect(confirmed.isEmpty)
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "completed")
        }
    }

    @Test func theFirstReplyOfAStageKeepsTheStagesDeadline() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, order) = try await Self.start(engine, client: client, logger: logger)
            let started = try await Self.clock(of: saga, client: client, logger: logger)
            try await Task.sleep(for: .milliseconds(50))
            let sent = try await Self.apply(engine, .invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1")),
                                            to: saga, client: client, logger: logger)
            #expect(sent.isEmpty)
            let waiting = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(waiting.token == 1)
            #expect(waiting.deadline == started.deadline)
            #expect(waiting.alarm == started.alarm)
            #expect(try await SagaQueries(client: client).saga(saga, logger: logger)?.step == "reserveTickets")
        }
    }

    @Test func aStepsDeadlineMovesWithoutItsAlarmAndAnEarlyAlarmIsMovedToIt() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, order) = try await Self.start(engine, client: client, logger: logger)
            let started = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(started.token == 1)
            #expect(abs((started.deadlineFromNow ?? 0) - 60) < 5)
            #expect(started.alarm == started.deadline)

            // The next stage sets a later deadline; the alarm, which rings before it, stays.
            try await Task.sleep(for: .milliseconds(50))
            _ = try await Self.apply(engine, .ticketsReserved(TicketsReserved(orderID: order, quantity: 1)), to: saga,
                                     client: client, logger: logger)
            _ = try await Self.apply(engine, .invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1")),
                                     to: saga, client: client, logger: logger)
            let reserved = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(reserved.token == 2)
            let alarm = try #require(reserved.alarm)
            #expect(alarm < (reserved.deadline ?? 0))
            #expect(abs(alarm - (started.alarm ?? 0)) < 1)
            #expect(try await Self.lateAlarms(client: client, logger: logger).isEmpty)

            // The alarm rings before the deadline: nothing fires, the alarm moves to the deadline.
            _ = try await client.query("UPDATE orchestrator.deadlines SET due_at = now() - interval '1 second'", logger: logger).collect()
            let early = try await Self.fire(engine, client: client, logger: logger)
            #expect(early.count == 1)
            #expect(early.messages.isEmpty)
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "running")
            let moved = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(moved.deadline == reserved.deadline)
            #expect(moved.alarm == reserved.deadline)
            #expect(try await Self.fire(engine, client: client, logger: logger).count == 0)

            // Once the deadline itself has passed, it fires with the step's token: the saga
            // compensates (first refunding the charge it may have made), and the
            // compensation's deadline and a new alarm are set.
            _ = try await client.query("""
                UPDATE orchestrator.sagas SET due_at = now() - interval '1 second' WHERE id = \(saga);
                """, logger: logger).collect()
            _ = try await client.query("UPDATE orchestrator.deadlines SET due_at = now() - interval '1 second'", logger: logger).collect()
            let fired = try await Self.fire(engine, client: client, logger: logger)
            #expect(fired.count == 1)
            #expect(fired.messages.map(\.envelope.typeName) == [RefundPayment.typeName])
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "compensating")
            let compensating = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(compensating.token == 3)
            #expect(abs((compensating.deadlineFromNow ?? 0) - 60) < 5)
            #expect(compensating.alarm == compensating.deadline)
            #expect(try await Self.lateAlarms(client: client, logger: logger).isEmpty)
        }
    }

    @Test func aCompensationDeadlineBeforeTheAlarmMovesTheAlarmAndAnEndedSagaDropsIt() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60), compensationTimeout: .seconds(5))
            let (saga, order) = try await Self.start(engine, client: client, logger: logger)
            _ = try await Self.apply(engine, .ticketsReserved(TicketsReserved(orderID: order, quantity: 1)), to: saga,
                                     client: client, logger: logger)
            _ = try await Self.apply(engine, .invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1")),
                                     to: saga, client: client, logger: logger)
            #expect(try await Self.fire(engine, client: client, logger: logger).count == 0)

            // The card is declined: the refund-less compensation starts with a 5 s deadline,
            // before the alarm set for the 60 s step, so the alarm moves to it.
            _ = try await Self.apply(engine, .paymentFailed(PaymentFailed(orderID: order, reason: "payment_declined")), to: saga,
                                     client: client, logger: logger)
            let compensating = try await Self.clock(of: saga, client: client, logger: logger)
            let deadline = try #require(compensating.deadlineFromNow)
            #expect(abs(deadline - 5) < 3)
            #expect(compensating.alarm == compensating.deadline)
            #expect(try await Self.lateAlarms(client: client, logger: logger).isEmpty)

            // Compensated: no deadline and no alarm.
            _ = try await Self.apply(engine, .invoiceCancelled(InvoiceCancelled(orderID: order)), to: saga, client: client, logger: logger)
            _ = try await Self.apply(engine, .ticketsReleased(TicketsReleased(orderID: order, quantity: 1)), to: saga,
                                     client: client, logger: logger)
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "compensated")
            let compensated = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(compensated.deadline == nil && compensated.token == nil && compensated.alarm == nil)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM orchestrator.deadlines", client: client, logger: logger) == 0)
        }
    }

    @Test func anAlarmOfASagaWithoutADeadlineIsDropped() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, _) = try await Self.start(engine, client: client, logger: logger)
            // As if the saga's deadline had been cleared without its alarm, and one alarm had
            // been left by a saga that does not exist.
            _ = try await client.query("UPDATE orchestrator.sagas SET due_at = NULL, deadline_token = NULL", logger: logger).collect()
            _ = try await client.query("UPDATE orchestrator.deadlines SET due_at = now() - interval '1 second'", logger: logger).collect()
            _ = try await client.query("INSERT INTO orchestrator.deadlines (saga_id, due_at) VALUES (\(UUID()), now())", logger: logger).collect()
            let fired = try await Self.fire(engine, client: client, logger: logger)
            #expect(fired.count == 2)
            #expect(fired.messages.isEmpty)
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "running")
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM orchestrator.deadlines", client: client, logger: logger) == 0)
        }
    }

    @Test func theAlarmOfASagaAnotherTransactionHoldsIsLeftForALaterSweep() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, _) = try await Self.start(engine, client: client, logger: logger)
            // The deadline has passed and the alarm rung, but a transition holds the saga.
            _ = try await client.query("UPDATE orchestrator.sagas SET due_at = now() - interval '1 second'", logger: logger).collect()
            _ = try await client.query("UPDATE orchestrator.deadlines SET due_at = now() - interval '1 second'", logger: logger).collect()
            let before = try await Self.clock(of: saga, client: client, logger: logger)
            try await client.withConnection { holder in
                _ = try await holder.query("BEGIN", logger: logger).collect()
                _ = try await holder.query("SELECT 1 FROM orchestrator.sagas WHERE id = \(saga) FOR UPDATE", logger: logger).collect()
                let skipped = try await Self.fire(engine, client: client, logger: logger)
                #expect(skipped.count == 0)
                #expect(skipped.messages.isEmpty)
                _ = try await holder.query("ROLLBACK", logger: logger).collect()
            }
            let held = try await Self.clock(of: saga, client: client, logger: logger)
            #expect(held.alarm == before.alarm)
            #expect(held.deadline == before.deadline)
            // Once it is free, the next sweep fires it.
            let fired = try await Self.fire(engine, client: client, logger: logger)
            #expect(fired.count == 1)
            // Both steps of the first stage were under way: both are undone, side by side.
            #expect(fired.messages.map(\.envelope.typeName) == [CancelInvoice.typeName, ReleaseTickets.typeName])
            #expect(try await Self.state(of: saga, client: client, logger: logger) == "compensating")
        }
    }
}
