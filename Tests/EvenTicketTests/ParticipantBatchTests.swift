import Database
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Inventory
import Invoicing
import Logging
import MessageBus
import Payment
import PostgresNIO
import Testing

/// A batch with two messages for one saga is handled in two rounds: the first round's writes
/// must be in place before the second round reads, and only the last round's writes may wait
/// for the statement that publishes the replies.
@Suite("Participants' batches", .timeLimit(.minutes(3)))
struct ParticipantBatchTests {
    /// Publishes `messages` in one transaction, then runs one consumer of `queue` until they are
    /// handled (claimed together: one batch); returns the replies, in the order they were made.
    static func handleAsOneBatch(
        _ messages: [OutgoingMessage], queue: Queue, handler: some MessageHandler, client: PostgresClient, logger: Logger
    ) async throws -> [(type: String, payload: String)] {
        try await client.transaction(logger: logger) { connection in
            try await MessagePublisher.publish(messages, notifyAtCommit: true, on: connection, logger: logger)
        }
        // Counted handlings (one at a time, after a start) are off: this is about one batch.
        let configuration = ConsumerConfiguration(queue: queue, pollInterval: .milliseconds(100), countedHandlings: 0)
        try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
            let replied = try await eventually {
                try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'orchestrator'",
                                            client: client, logger: logger) == messages.count
            }
            #expect(replied)
        }
        return try await replies(client: client, logger: logger)
    }

    /// The replies on the orchestrator's queue, in the order they were made, once no message
    /// went to the dead letters.
    static func replies(client: PostgresClient, logger: Logger) async throws -> [(type: String, payload: String)] {
        #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 0)
        let rows = try await client.query(
            "SELECT type, payload FROM bus.messages WHERE queue = 'orchestrator' ORDER BY id", logger: logger)
        var replies: [(type: String, payload: String)] = []
        for try await (type, payload) in rows.decode((String, String).self) { replies.append((type, payload)) }
        return replies
    }

    @Test func aReservationAndItsReleaseInOneBatchGiveTheTicketsBack() async throws {
        try await TestSystem.withDatabase { client, logger in
            let event = try await Catalog(client: client).createEvent(
                name: "Batch night", ticketTypes: [.init(name: "Floor", priceCents: 1000, currency: "EUR", capacity: 10)], logger: logger)
            let ticketType = try #require(event.ticketTypes.first).ticketTypeId
            let (saga, order) = (UUID(), UUID())
            let replies = try await Self.handleAsOneBatch(
                [OutgoingMessage(ReserveTickets(orderID: order, eventID: event.eventId, lines: [OrderLine(ticketTypeID: ticketType, quantity: 2)]),
                                 sagaID: saga),
                 OutgoingMessage(ReleaseTickets(orderID: order), sagaID: saga)],
                queue: .inventory, handler: InventoryHandler(), client: client, logger: logger)

            #expect(replies.map(\.type) == [TicketsReserved.typeName, TicketsReleased.typeName])
            #expect(try replies.first.map { try MessageCoding.decode(TicketsReserved.self, from: $0.payload).quantity } == 2)
            #expect(try replies.last.map { try MessageCoding.decode(TicketsReleased.self, from: $0.payload).quantity } == 2)
            #expect(try await TestSystem.scalar(
                "SELECT available FROM inventory.ticket_types WHERE id = \(ticketType)", client: client, logger: logger) == 10)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM inventory.reservations WHERE saga_id = \(saga) AND status = 'released' AND quantity = 2",
                client: client, logger: logger) == 1)
        }
    }

    @Test func aChargeAndItsRefundInOneBatchKeepNoMoney() async throws {
        try await TestSystem.withDatabase { client, logger in
            let (saga, order) = (UUID(), UUID())
            let replies = try await Self.handleAsOneBatch(
                [OutgoingMessage(ChargePayment(orderID: order, amountCents: 4500, currency: "EUR", paymentToken: "tok_visa"), sagaID: saga),
                 OutgoingMessage(RefundPayment(orderID: order), sagaID: saga)],
                queue: .payment, handler: PaymentHandler(), client: client, logger: logger)

            #expect(replies.map(\.type) == [PaymentCharged.typeName, PaymentRefunded.typeName])
            #expect(try replies.last.map { try MessageCoding.decode(PaymentRefunded.self, from: $0.payload).amountCents } == 4500)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM payment.charges WHERE saga_id = \(saga) AND status = 'refunded'", client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)", client: client, logger: logger) == 2)
            #expect(try await TestSystem.scalar(
                "SELECT sum(amount_cents)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)", client: client, logger: logger) == 0)
        }
    }

    @Test func aRefundWhileTheGatewayHasNotAnsweredRefundsTheChargeWhenItLands() async throws {
        // The saga gave up on a slow charge and compensates: its refund finds the charge
        // pending. Whatever order the orchestrator later sees the replies in, the money the
        // gateway takes afterwards must come back without the saga asking again.
        try await TestSystem.withDatabase { client, logger in
            let (saga, order) = (UUID(), UUID())
            try await client.transaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [OutgoingMessage(ChargePayment(orderID: order, amountCents: 4500, currency: "EUR", paymentToken: "tok_timeout"), sagaID: saga),
                     OutgoingMessage(RefundPayment(orderID: order), sagaID: saga)],
                    notifyAtCommit: true, on: connection, logger: logger)
            }
            let handler = PaymentHandler(configuration: PaymentConfiguration(slowChargeDelay: .milliseconds(300)))
            try await MessageBusTests.consuming(handler, client: client, logger: logger,
                                                configuration: ConsumerConfiguration(queue: .payment, pollInterval: .milliseconds(100))) {
                let settled = try await eventually {
                    let replies = try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'orchestrator'",
                                                              client: client, logger: logger)
                    let queued = try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'payment'",
                                                             client: client, logger: logger)
                    return replies == 2 && queued == 0
                }
                #expect(settled)
            }
            var replies: [(type: String, amount: Int)] = []
            for try await (type, payload) in try await client.query(
                "SELECT type, payload FROM bus.messages WHERE queue = 'orchestrator' ORDER BY id", logger: logger).decode((String, String).self) {
                let amount = type == PaymentRefunded.typeName ? try MessageCoding.decode(PaymentRefunded.self, from: payload).amountCents : -1
                replies.append((type, amount))
            }
            #expect(replies.map(\.type) == [PaymentRefunded.typeName, PaymentRefunded.typeName])
            #expect(replies.map(\.amount) == [0, 4500])
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM payment.charges WHERE saga_id = \(saga) AND status = 'refunded'", client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT coalesce(sum(amount_cents), -1)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)", client: client, logger: logger) == 0)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM payment.gateway_ledger WHERE saga_id = \(saga) AND kind = 'charge'", client: client, logger: logger) == 1)
        }
    }

    @Test func anInvoiceAndItsCancellationInOneBatchLeaveItVoidAndACancellationFirstLeavesNoneIssued() async throws {
        try await TestSystem.withDatabase { client, logger in
            let (issued, cancelledFirst) = ((saga: UUID(), order: UUID()), (saga: UUID(), order: UUID()))
            func create(_ saga: (saga: UUID, order: UUID)) -> OutgoingMessage {
                OutgoingMessage(CreateInvoice(orderID: saga.order, customerID: "batch", amountCents: 4500, currency: "EUR"), sagaID: saga.saga)
            }
            func cancel(_ saga: (saga: UUID, order: UUID)) -> OutgoingMessage {
                OutgoingMessage(CancelInvoice(orderID: saga.order), sagaID: saga.saga)
            }
            let replies = try await Self.handleAsOneBatch(
                [create(issued), cancel(issued), cancel(cancelledFirst), create(cancelledFirst)],
                queue: .invoicing, handler: InvoicingHandler(), client: client, logger: logger)

            // Rounds: (create issued, cancel cancelledFirst), then (cancel issued, create cancelledFirst).
            #expect(replies.map(\.type) == [InvoiceCreated.typeName, InvoiceCancelled.typeName, InvoiceCancelled.typeName, InvoiceCancelled.typeName])
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM invoicing.invoices WHERE saga_id = \(issued.saga) AND status = 'void' AND number IS NOT NULL",
                client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM invoicing.invoices WHERE saga_id = \(cancelledFirst.saga) AND status = 'void' AND number IS NULL",
                client: client, logger: logger) == 1)
        }
    }

    @Test func invoiceNumbersPastEightDigitsKeepAllTheirDigits() async throws {
        try await TestSystem.withDatabase { client, logger in
            _ = try await client.query("SELECT setval('invoicing.invoice_number_seq', 99999998)", logger: logger).collect()
            let sagas = (0..<3).map { _ in (saga: UUID(), order: UUID()) }
            _ = try await Self.handleAsOneBatch(
                sagas.map { OutgoingMessage(CreateInvoice(orderID: $0.order, customerID: "c", amountCents: 100, currency: "EUR"), sagaID: $0.saga) },
                queue: .invoicing, handler: InvoicingHandler(), client: client, logger: logger)
            var numbers: [String] = []
            let rows = try await client.query("SELECT number FROM invoicing.invoices ORDER BY number", logger: logger)
            for try await number in rows.decode(String.self) { numbers.append(number) }
            // `lpad` to 8 made the second and third INV-10000000 and INV-10000000 (a unique
            // violation: the batch failed, and each invoice alone after it).
            #expect(numbers == ["INV-100000000", "INV-100000001", "INV-99999999"])
        }
    }

    /// Publishes `messages` one at a time, each once the one before has been answered (each in
    /// a batch of its own), to one consumer of `queue`; returns the replies in order.
    static func handleInTurn(
        _ messages: [OutgoingMessage], queue: Queue, handler: some MessageHandler, client: PostgresClient, logger: Logger
    ) async throws -> [(type: String, payload: String)] {
        let configuration = ConsumerConfiguration(queue: queue, pollInterval: .milliseconds(100), countedHandlings: 0)
        try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
            for (index, message) in messages.enumerated() {
                try await client.transaction(logger: logger) { connection in
                    try await MessagePublisher.publish([message], notifyAtCommit: true, on: connection, logger: logger)
                }
                let answered = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'orchestrator'",
                                                client: client, logger: logger) == index + 1
                }
                #expect(answered, "message \(index) (\(message.envelope.typeName)) was not answered")
            }
        }
        return try await replies(client: client, logger: logger)
    }

    // The orchestrator sends a compensation again when its deadline passes unanswered, and a
    // forward step again after a lost reply: as new messages (new ids), so the bus's ledger does
    // not stop them. The participants must undo nothing twice, and take no step a compensation
    // has already undone.

    @Test func aReleaseSentAgainGivesNothingBackTwiceAndAReservationAfterItIsRefused() async throws {
        try await TestSystem.withDatabase { client, logger in
            let event = try await Catalog(client: client).createEvent(
                name: "Encore", ticketTypes: [.init(name: "Floor", priceCents: 1000, currency: "EUR", capacity: 10)], logger: logger)
            let ticketType = try #require(event.ticketTypes.first).ticketTypeId
            let (saga, order) = (UUID(), UUID())
            let reserve = { OutgoingMessage(ReserveTickets(orderID: order, eventID: event.eventId, lines: [OrderLine(ticketTypeID: ticketType, quantity: 2)]),
                                            sagaID: saga) }
            let release = { OutgoingMessage(ReleaseTickets(orderID: order), sagaID: saga) }
            let replies = try await Self.handleInTurn([reserve(), release(), release(), reserve()],
                                                      queue: .inventory, handler: InventoryHandler(), client: client, logger: logger)
            #expect(replies.map(\.type) == [TicketsReserved.typeName, TicketsReleased.typeName, TicketsReleased.typeName, TicketsUnavailable.typeName])
            #expect(try replies.map { reply in
                switch reply.type {
                case TicketsReserved.typeName: "reserved \(try MessageCoding.decode(TicketsReserved.self, from: reply.payload).quantity)"
                case TicketsReleased.typeName: "released \(try MessageCoding.decode(TicketsReleased.self, from: reply.payload).quantity)"
                default: try MessageCoding.decode(TicketsUnavailable.self, from: reply.payload).reason
                }
            } == ["reserved 2", "released 2", "released 0", "reservation_cancelled"])
            #expect(try await TestSystem.scalar(
                "SELECT available FROM inventory.ticket_types WHERE id = \(ticketType)", client: client, logger: logger) == 10)
        }
    }

    @Test func aRefundSentAgainRefundsNothingTwiceAndAChargeAfterItTakesNoMoney() async throws {
        try await TestSystem.withDatabase { client, logger in
            let (saga, order) = (UUID(), UUID())
            let charge = { OutgoingMessage(ChargePayment(orderID: order, amountCents: 4500, currency: "EUR", paymentToken: "tok_visa"), sagaID: saga) }
            let refund = { OutgoingMessage(RefundPayment(orderID: order), sagaID: saga) }
            let replies = try await Self.handleInTurn([charge(), refund(), refund(), charge()],
                                                      queue: .payment, handler: PaymentHandler(), client: client, logger: logger)
            #expect(replies.map(\.type) == [PaymentCharged.typeName, PaymentRefunded.typeName, PaymentRefunded.typeName, PaymentCharged.typeName])
            #expect(try replies.filter { $0.type == PaymentRefunded.typeName }
                .map { try MessageCoding.decode(PaymentRefunded.self, from: $0.payload).amountCents } == [4500, 0])
            // The gateway saw one charge and one refund: no money kept, none taken twice.
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)", client: client, logger: logger) == 2)
            #expect(try await TestSystem.scalar(
                "SELECT sum(amount_cents)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)", client: client, logger: logger) == 0)
        }
    }

    @Test func aCancellationSentAgainLeavesTheInvoiceVoidAndACreationAfterItIssuesNone() async throws {
        try await TestSystem.withDatabase { client, logger in
            let (saga, order) = (UUID(), UUID())
            let create = { OutgoingMessage(CreateInvoice(orderID: order, customerID: "encore", amountCents: 4500, currency: "EUR"), sagaID: saga) }
            let cancel = { OutgoingMessage(CancelInvoice(orderID: order), sagaID: saga) }
            let replies = try await Self.handleInTurn([create(), cancel(), cancel(), create()],
                                                      queue: .invoicing, handler: InvoicingHandler(), client: client, logger: logger)
            #expect(replies.map(\.type) == [InvoiceCreated.typeName, InvoiceCancelled.typeName, InvoiceCancelled.typeName, InvoiceCancelled.typeName])
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM invoicing.invoices WHERE saga_id = \(saga) AND status = 'void' AND number IS NOT NULL",
                client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM invoicing.invoices WHERE saga_id = \(saga)", client: client, logger: logger) == 1)
        }
    }
}
