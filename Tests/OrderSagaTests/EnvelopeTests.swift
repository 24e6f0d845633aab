import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

@Suite("Envelope")
struct EnvelopeTests {
    @Test func wrappingSetsTypeNameAndIdentifiers() {
        let cause = UUID()
        let message = TicketsReserved(orderID: Fixture.orderID, quantity: 3)
        let envelope = Envelope(message, sagaID: Fixture.sagaID, causationID: cause, headers: ["traceparent": "00-abc"])
        #expect(envelope.typeName == "TicketsReserved.v1")
        #expect(envelope.sagaID == Fixture.sagaID)
        #expect(envelope.causationID == cause)
        #expect(envelope.headers == ["traceparent": "00-abc"])
        #expect(envelope.attempt == 0)
        #expect(Envelope(message, sagaID: Fixture.sagaID).causationID == nil)
        #expect(Envelope(message, sagaID: Fixture.sagaID).headers.isEmpty)
    }

    @Test func everyWrapGetsAFreshMessageID() {
        let message = InvoiceCancelled(orderID: Fixture.orderID)
        #expect(Envelope(message, sagaID: Fixture.sagaID).messageID != Envelope(message, sagaID: Fixture.sagaID).messageID)
    }

    @Test func payloadIsJSONWithSortedKeys() {
        let message = PaymentCharged(orderID: Fixture.orderID, chargeID: Fixture.chargeID, amountCents: 500)
        let envelope = Envelope(message, sagaID: Fixture.sagaID)
        #expect(envelope.payload ==
            #"{"amountCents":500,"chargeID":"\#(Fixture.chargeID.uuidString)","orderID":"\#(Fixture.orderID.uuidString)"}"#)
    }

    @Test func decodeRoundTripsEachMessage() throws {
        let sagaID = Fixture.sagaID
        let order = Fixture.order
        #expect(try Envelope(order, sagaID: sagaID).decode(OrderPlaced.self) == order)
        let invoice = CreateInvoice(orderID: Fixture.orderID, customerID: "ç-üñí", amountCents: 1, currency: "JPY")
        #expect(try Envelope(invoice, sagaID: sagaID).decode(CreateInvoice.self) == invoice)
        let deadline = StepDeadlineReached(step: "chargePayment", token: 42)
        #expect(try Envelope(deadline, sagaID: sagaID).decode(StepDeadlineReached.self) == deadline)
        let rejected = OrderRejected(orderID: Fixture.orderID, reason: "payment \"declined\"\n")
        #expect(try Envelope(rejected, sagaID: sagaID).decode(OrderRejected.self) == rejected)
        let slow = SettleSlowCharge(orderID: Fixture.orderID)
        #expect(try Envelope(slow, sagaID: sagaID).decode(SettleSlowCharge.self) == slow)
    }

    @Test func decodingAsTheWrongTypeThrowsEvenIfThePayloadFits() throws {
        // InvoiceCancelled and ReleaseTickets have the same shape: only the type name tells them apart.
        let envelope = Envelope(InvoiceCancelled(orderID: Fixture.orderID), sagaID: Fixture.sagaID)
        let error = try #require(throws: MessageDecodingError.self) { try envelope.decode(ReleaseTickets.self) }
        #expect(error.typeName == "InvoiceCancelled.v1")
        #expect(error.reason.contains("ReleaseTickets.v1"))
        #expect(error.description.hasPrefix("cannot decode InvoiceCancelled.v1"))
    }

    @Test(arguments: ["", "not json", "{}", #"{"orderID":"not-a-uuid","quantity":1}"#, #"{"orderID":null}"#, "[]"])
    func decodingABadPayloadThrows(payload: String) throws {
        let envelope = Envelope(sagaID: Fixture.sagaID, typeName: TicketsReserved.typeName, payload: payload)
        let error = try #require(throws: MessageDecodingError.self) { try envelope.decode(TicketsReserved.self) }
        #expect(error.typeName == "TicketsReserved.v1")
    }

    @Test func envelopeItselfRoundTripsThroughJSON() throws {
        let envelope = Envelope(
            messageID: UUID(), sagaID: Fixture.sagaID, causationID: UUID(), typeName: PaymentFailed.typeName,
            timestamp: Date(timeIntervalSince1970: 1_700_000_000), attempt: 3, headers: ["a": "b"],
            payload: MessageCoding.encode(PaymentFailed(orderID: Fixture.orderID, reason: "payment_declined")))
        let decoded = try roundTrip(envelope)
        #expect(decoded == envelope)
        #expect(try decoded.decode(PaymentFailed.self).reason == "payment_declined")
    }

    @Test func messageCodingUsesISO8601Dates() throws {
        struct Stamped: Codable, Equatable { var at: Date }
        let value = Stamped(at: Date(timeIntervalSince1970: 0))
        let text = MessageCoding.encode(value)
        #expect(text == #"{"at":"1970-01-01T00:00:00Z"}"#)
        #expect(try MessageCoding.decode(Stamped.self, from: text) == value)
    }

    @Test func typeNamesVersionsAndDestinations() {
        #expect(TicketsReserved.version == 1)
        #expect(ReserveTickets.typeName == "ReserveTickets.v1")
        #expect(StepDeadlineReached.typeName == "StepDeadlineReached.v1")
        #expect(ReserveTickets.destination == .inventory)
        #expect(ReleaseTickets.destination == .inventory)
        #expect(CreateInvoice.destination == .invoicing)
        #expect(CancelInvoice.destination == .invoicing)
        #expect(ChargePayment.destination == .payment)
        #expect(RefundPayment.destination == .payment)
        #expect(SettleSlowCharge.destination == .payment)
        #expect(StepDeadlineReached.destination == .orchestrator)
        #expect(OrderPlaced.destination == .orchestrator)
        #expect(TicketsReserved.destination == .orchestrator)
        #expect(PaymentRefunded.destination == .orchestrator)
        #expect(OrderConfirmed.destination == .ordering)
        #expect(OrderRejected.destination == .ordering)
        #expect(Queue.allCases.map(\.rawValue) == ["orchestrator", "inventory", "invoicing", "payment", "ordering"])
    }
}

@Suite("Saga input from an envelope")
struct SagaInputEnvelopeTests {
    static let events: [(Envelope, SagaInput)] = {
        let id = Fixture.orderID
        func pair<M: Message>(_ m: M, _ input: SagaInput) -> (Envelope, SagaInput) {
            (Envelope(m, sagaID: Fixture.sagaID), input)
        }
        return [
            pair(TicketsReserved(orderID: id, quantity: 3), .reserved),
            pair(TicketsUnavailable(orderID: id, reason: "tickets_unavailable"), .unavailable()),
            pair(InvoiceCreated(orderID: id, invoiceID: Fixture.invoiceID, invoiceNumber: "INV-0001"), .invoiced),
            pair(PaymentCharged(orderID: id, chargeID: Fixture.chargeID, amountCents: 12_345), .charged),
            pair(PaymentFailed(orderID: id, reason: "payment_declined"), .declined()),
            pair(TicketsReleased(orderID: id, quantity: 3), .released),
            pair(InvoiceCancelled(orderID: id), .cancelled),
            pair(PaymentRefunded(orderID: id, amountCents: 12_345), .refunded),
            pair(StepDeadlineReached(step: "createInvoice", token: 2), .deadline("createInvoice", 2)),
        ]
    }()

    @Test func everyConsumedEventDecodesToItsInput() throws {
        #expect(Self.events.count == 9)
        for (envelope, expected) in Self.events {
            #expect(try SagaInput(envelope: envelope) == expected)
        }
    }

    @Test func envelopeInputDrivesTheSaga() throws {
        var saga = saga(after: [.invoiced])
        let input = try #require(try SagaInput(envelope: Envelope(
            TicketsReserved(orderID: Fixture.orderID, quantity: 3), sagaID: Fixture.sagaID)))
        expectApplied(&saga, input, sendAndWait(Cmd.charge, step: "chargePayment", token: 2))
    }

    @Test func unknownTypeNameGivesNil() throws {
        let orderID = Fixture.orderID
        let notConsumed = [
            Envelope(Fixture.order, sagaID: Fixture.sagaID),
            Envelope(ReserveTickets(orderID: orderID, eventID: Fixture.eventID, lines: []), sagaID: Fixture.sagaID),
            Envelope(OrderConfirmed(orderID: orderID), sagaID: Fixture.sagaID),
            Envelope(SettleSlowCharge(orderID: orderID), sagaID: Fixture.sagaID),
            Envelope(sagaID: Fixture.sagaID, typeName: "Nope.v1", payload: "garbage"),
            Envelope(sagaID: Fixture.sagaID, typeName: "TicketsReserved.v2", payload: "{}"),
            Envelope(sagaID: Fixture.sagaID, typeName: "TicketsReserved", payload: "{}"),
        ]
        for envelope in notConsumed {
            #expect(try SagaInput(envelope: envelope) == nil, "\(envelope.typeName)")
        }
    }

    @Test(arguments: [TicketsReserved.typeName, PaymentFailed.typeName, StepDeadlineReached.typeName])
    func badPayloadThrowsDecodingError(typeName: String) throws {
        let envelope = Envelope(sagaID: Fixture.sagaID, typeName: typeName, payload: #"{"orderID":42}"#)
        let error = try #require(throws: MessageDecodingError.self) { try SagaInput(envelope: envelope) }
        #expect(error.typeName == typeName)
    }
}

@Suite("Payment token")
struct PaymentTokenTests {
    @Test(arguments: ["tok_a", "tok_visa_4242", "tok_ABC123", "tok__", "tok_" + String(repeating: "x", count: 64)])
    func wellFormed(token: String) {
        #expect(PaymentToken.isWellFormed(token))
    }

    @Test(arguments: [
        "", "tok_", "tok", "TOK_abc", "tk_abc", " tok_abc", "tok_abc ", "tok_a-b", "tok_a.b", "tok_é", "tok_١٢٣",
        "tok_ａ", "tok_a\n", "tok_" + String(repeating: "x", count: 65),
    ])
    func malformed(token: String) {
        #expect(!PaymentToken.isWellFormed(token))
    }
}

@Suite("Flat JSON objects")
struct FlatJSONTests {
    @Test(arguments: [
        [:],
        ["queue": "inventory"],
        ["why": "duplicate \"reserveTickets\" reply", "from": "running", "to": "compensating"],
        ["path": "a\\b/c", "lines": "one\ntwo\r\tthree", "control": "\u{1}\u{1f}", "unicode": "Zürich 東京 🎟"],
    ])
    func encodesWhatJSONDecoderReadsBack(object: [String: String]) throws {
        let text = MessageCoding.encode(object)
        #expect(try JSONDecoder().decode([String: String].self, from: Data(text.utf8)) == object)
    }

    @Test func sortsItsKeys() {
        #expect(MessageCoding.encode(["b": "2", "a": "1"]) == #"{"a":"1","b":"2"}"#)
    }
}
