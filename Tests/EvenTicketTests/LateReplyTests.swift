import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Orchestrator
import OrderSaga
import PostgresNIO
import Testing

/// The engine against the database: a success that arrives after the saga has ended.
@Suite("Late replies", .timeLimit(.minutes(2)))
struct LateReplyTests {
    @Test func aChargeThatLandsAfterThePaymentTimedOutAndTheSagaCompensatedIsRefundedOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (saga, order) = try await DeadlineAlarmTests.start(engine, client: client, logger: logger)
            func apply(_ input: SagaInput) async throws -> [String] {
                try await DeadlineAlarmTests.apply(engine, input, to: saga, client: client, logger: logger).map(\.envelope.typeName)
            }
            #expect(try await apply(.ticketsReserved(TicketsReserved(orderID: order, quantity: 1))) == [])
            #expect(try await apply(.invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1")))
                    == [ChargePayment.typeName])
            // The charge's deadline passes: the refund goes first (the charge may have happened).
            _ = try await client.query("UPDATE orchestrator.sagas SET due_at = now() - interval '1 second'", logger: logger).collect()
            _ = try await client.query("UPDATE orchestrator.deadlines SET due_at = now() - interval '1 second'", logger: logger).collect()
            let fired = try await DeadlineAlarmTests.fire(engine, client: client, logger: logger)
            #expect(fired.messages.map(\.envelope.typeName) == [RefundPayment.typeName])
            #expect(try await apply(.paymentRefunded(PaymentRefunded(orderID: order, amountCents: 0))).sorted()
                    == [CancelInvoice.typeName, ReleaseTickets.typeName])
            _ = try await apply(.invoiceCancelled(InvoiceCancelled(orderID: order)))
            _ = try await apply(.ticketsReleased(TicketsReleased(orderID: order, quantity: 1)))
            #expect(try await DeadlineAlarmTests.state(of: saga, client: client, logger: logger) == "compensated")

            // The gateway's charge lands now: it is refunded, once, and the saga stays compensated.
            let charged = PaymentCharged(orderID: order, chargeID: UUID(), amountCents: 1_000)
            #expect(try await apply(.paymentCharged(charged)) == [RefundPayment.typeName])
            #expect(try await DeadlineAlarmTests.state(of: saga, client: client, logger: logger) == "compensated")
            // Its refund's answer changes nothing.
            #expect(try await apply(.paymentRefunded(PaymentRefunded(orderID: order, amountCents: 1_000))) == [])
            #expect(try await DeadlineAlarmTests.state(of: saga, client: client, logger: logger) == "compensated")
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM orchestrator.deadlines WHERE saga_id = \(saga)", client: client, logger: logger) == 0)
        }
    }
}
