import Database
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Orchestrator
import OrderSaga
import Ordering
import PostgresNIO
import Testing

/// A saga that ends records its outcome on its order in the statement that stores its last
/// transition (`OrderSettlement`), so the two commit together; outcomes that older builds sent
/// to the `ordering` queue are still recorded by the ordering service's consumer.
@Suite("Order settlement", .timeLimit(.minutes(3)))
struct OrderSettlementTests {
    /// Stores a pending order as the intake does and starts its saga; returns their ids.
    static func placeOrder(_ engine: SagaEngine, client: PostgresClient, logger: Logger) async throws -> (order: UUID, saga: UUID) {
        let new = OrderStore.NewOrder(
            customerID: "settlement-test", eventID: UUID(), lines: [Order.Line(ticketTypeId: UUID(), quantity: 1)],
            totalCents: 1_000, currency: "EUR", request: "{}", idempotencyKey: nil)
        let insert = OrderInsert([new])
        let (order, saga) = (insert.orderIDs[0], insert.sagaIDs[0])
        let placed = OrderPlaced(orderID: order, customerID: new.customerID, eventID: new.eventID,
                                 lines: [OrderLine(ticketTypeID: new.lines[0].ticketTypeId, quantity: 1)],
                                 totalCents: new.totalCents, currency: new.currency, paymentToken: "tok_visa")
        try await client.transaction(logger: logger) { connection in
            var bindings = PostgresBindings(capacity: OrderInsert.parameterCount)
            insert.appendBindings(to: &bindings)
            _ = try await connection.query(PostgresQuery(unsafeSQL: OrderInsert.sql, binds: bindings), logger: logger).collect()
            _ = try await engine.start([.init(order: placed, sagaID: saga)], on: connection, logger: logger)
        }
        return (order, saga)
    }

    struct Settled: Equatable {
        var status: String
        var reason: String? = nil
        /// Whether the order's row was last written by the transaction that last wrote its saga's
        /// (`xmin`), at or after that transaction's start.
        var withSaga: Bool
    }

    static func settled(_ order: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Settled? {
        let rows = try await connection.query("""
            SELECT o.status, o.reason, o.xmin = s.xmin AND o.updated_at >= s.updated_at
              FROM ordering.orders o JOIN orchestrator.sagas s ON s.id = o.saga_id WHERE o.id = \(order)
            """, logger: logger)
        for try await (status, reason, withSaga) in rows.decode((String, String?, Bool).self) {
            return Settled(status: status, reason: reason, withSaga: withSaga)
        }
        return nil
    }

    static func settled(_ order: UUID, client: PostgresClient, logger: Logger) async throws -> Settled? {
        try await client.withConnection { try await settled(order, on: $0, logger: logger) }
    }

    static func apply(_ engine: SagaEngine, _ inputs: [SagaInput], to saga: UUID, client: PostgresClient, logger: Logger) async throws -> [OutgoingMessage] {
        try await client.transaction(logger: logger) { connection in
            try await engine.apply(inputs.map { .init(sagaID: saga, input: $0, messageID: UUID()) }, on: connection, logger: logger)
        }
    }

    @Test func theLastTransitionConfirmsTheOrderInItsOwnTransaction() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (order, saga) = try await Self.placeOrder(engine, client: client, logger: logger)
            _ = try await Self.apply(engine, [.ticketsReserved(TicketsReserved(orderID: order, quantity: 1)),
                                              .invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1"))],
                                     to: saga, client: client, logger: logger)
            #expect(try await Self.settled(order, client: client, logger: logger)?.status == "pending")

            let sent = try await client.transaction(logger: logger) { connection in
                let sent = try await engine.apply(
                    [.init(sagaID: saga, input: .paymentCharged(PaymentCharged(orderID: order, chargeID: UUID(), amountCents: 1_000)), messageID: UUID())],
                    on: connection, logger: logger)
                // Inside the saga's transaction the order is confirmed; outside, not yet.
                #expect(try await Self.settled(order, on: connection, logger: logger) == Settled(status: "confirmed", withSaga: true))
                #expect(try await Self.settled(order, client: client, logger: logger)?.status == "pending")
                return sent
            }
            #expect(sent.isEmpty, "nothing to publish: \(sent.map(\.envelope.typeName))")
            #expect(try await Self.settled(order, client: client, logger: logger) == Settled(status: "confirmed", withSaga: true))
            let view = try #require(try await SagaQueries(client: client).saga(saga, logger: logger))
            #expect(view.state == "completed")
            #expect(view.history?.last?.kind == "order")
            #expect(view.history?.last?.message == "confirmed")
        }
    }

    @Test func aRollbackLeavesTheOrderPendingWithItsSaga() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (order, saga) = try await Self.placeOrder(engine, client: client, logger: logger)
            struct Abandoned: Error {}
            await #expect(throws: Abandoned.self) {
                try await client.transaction(logger: logger) { connection in
                    _ = try await engine.apply(
                        [.init(sagaID: saga, input: .ticketsUnavailable(TicketsUnavailable(orderID: order, reason: "sold_out")), messageID: UUID()),
                         .init(sagaID: saga, input: .invoiceCancelled(InvoiceCancelled(orderID: order)), messageID: UUID())],
                        on: connection, logger: logger)
                    #expect(try await Self.settled(order, on: connection, logger: logger)?.status == "rejected")
                    throw Abandoned()
                }
            }
            #expect(try await Self.settled(order, client: client, logger: logger)?.status == "pending")
            #expect(try await DeadlineAlarmTests.state(of: saga, client: client, logger: logger) == "running")
        }
    }

    @Test func aRejectionKeepsItsReasonAndALaterOutcomeChangesNothing() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (order, saga) = try await Self.placeOrder(engine, client: client, logger: logger)
            _ = try await Self.apply(engine, [.ticketsReserved(TicketsReserved(orderID: order, quantity: 1)),
                                              .invoiceCreated(InvoiceCreated(orderID: order, invoiceID: UUID(), invoiceNumber: "INV-1")),
                                              .paymentFailed(PaymentFailed(orderID: order, reason: "payment_declined"))],
                                     to: saga, client: client, logger: logger)
            #expect(try await Self.settled(order, client: client, logger: logger)?.status == "pending")
            _ = try await Self.apply(engine, [.invoiceCancelled(InvoiceCancelled(orderID: order)),
                                              .ticketsReleased(TicketsReleased(orderID: order, quantity: 1))],
                                     to: saga, client: client, logger: logger)
            #expect(try await Self.settled(order, client: client, logger: logger)
                    == Settled(status: "rejected", reason: "payment_declined", withSaga: true))

            // A confirmation an older build queued for the ordering service comes too late.
            let late = OutgoingMessage(OrderConfirmed(orderID: order), sagaID: saga, causationID: nil)
            _ = try await client.transaction(logger: logger) { connection in
                try await OrderingHandler().handleBatch([late.envelope], connection: connection, logger: logger)
            }
            #expect(try await Self.settled(order, client: client, logger: logger)?.status == "rejected")
        }
    }

    @Test func anOutcomeAnOlderBuildQueuedForTheOrderingServiceIsStillRecorded() async throws {
        try await TestSystem.withDatabase { client, logger in
            let engine = SagaEngine(stepTimeout: .seconds(60))
            let (order, saga) = try await Self.placeOrder(engine, client: client, logger: logger)
            let rejected = OutgoingMessage(OrderRejected(orderID: order, reason: "payment_declined"), sagaID: saga, causationID: nil)
            try await MessageBusTests.publish([rejected], client: client, logger: logger)
            let configuration = ConsumerConfiguration(queue: .ordering, pollInterval: .milliseconds(100))
            try await MessageBusTests.consuming(OrderingHandler(), client: client, logger: logger, configuration: configuration) {
                let recorded = try await eventually {
                    try await Self.settled(order, client: client, logger: logger)?.status == "rejected"
                }
                #expect(recorded)
            }
            #expect(try await Self.settled(order, client: client, logger: logger)?.reason == "payment_declined")
        }
    }
}
