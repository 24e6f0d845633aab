import EvenTicketContracts
import Foundation
import Testing

/// `MessageCoding.encode` writes its own JSON (for speed); it must be the very text Foundation's
/// `JSONEncoder` writes with sorted keys and ISO 8601 dates.
@Suite("Canonical JSON")
struct CanonicalJSONTests {
    static func foundation<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Text that needs every kind of escape, and some that needs none.
    static let awkward = "a/b \"q\" \\ \u{1}\u{8}\u{C}\n\r\t\u{1F} é 😀 \u{7F}"

    @Test func everyMessageTypeEncodesAsJSONEncoderDoes() throws {
        let id = Fixture.orderID
        let lines = [OrderLine(ticketTypeID: Fixture.standardType, quantity: 2), OrderLine(ticketTypeID: Fixture.vipType, quantity: 1)]
        let order = OrderPlaced(orderID: id, customerID: Self.awkward, eventID: Fixture.eventID, lines: lines, totalCents: 12_345,
                                currency: "EUR", paymentToken: "tok_visa")
        #expect(MessageCoding.encode(order) == (try Self.foundation(order)))
        #expect(MessageCoding.encode(lines) == (try Self.foundation(lines)))
        func check<M: Message>(_ message: M) throws {
            #expect(MessageCoding.encode(message) == (try Self.foundation(message)), "\(M.typeName)")
        }
        try check(ReserveTickets(orderID: id, eventID: Fixture.eventID, lines: lines))
        try check(ReleaseTickets(orderID: id))
        try check(CreateInvoice(orderID: id, customerID: "ç-üñí/\u{0}", amountCents: -1, currency: "JPY"))
        try check(CancelInvoice(orderID: id))
        try check(ChargePayment(orderID: id, amountCents: Int.max, currency: "USD", paymentToken: Self.awkward))
        try check(RefundPayment(orderID: id))
        try check(SettleSlowCharge(orderID: id))
        try check(StepDeadlineReached(step: "chargePayment", token: 42))
        try check(TicketsReserved(orderID: id, quantity: 3))
        try check(TicketsUnavailable(orderID: id, reason: "sold out"))
        try check(TicketsReleased(orderID: id, quantity: 3))
        try check(InvoiceCreated(orderID: id, invoiceID: Fixture.invoiceID, invoiceNumber: "INV-000001"))
        try check(InvoiceCancelled(orderID: id))
        try check(PaymentCharged(orderID: id, chargeID: Fixture.chargeID, amountCents: 500))
        try check(PaymentFailed(orderID: id, reason: "payment_declined"))
        try check(PaymentRefunded(orderID: id, amountCents: 500))
        try check(OrderConfirmed(orderID: id))
        try check(OrderRejected(orderID: id, reason: Self.awkward))
    }

    struct Everything: Encodable {
        struct Inner: Encodable {
            var b = true
            var none: Int? = nil
            var explicitNull: Int?
            enum CodingKeys: String, CodingKey { case b, none, explicitNull }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(b, forKey: .b)
                try container.encodeIfPresent(none, forKey: .none)
                try container.encodeNil(forKey: .explicitNull)
            }
        }

        var zeta = [Inner(), Inner(b: false)]
        var Alpha = "capital first"
        var a10 = 10
        var a9 = 9
        var date = Date(timeIntervalSince1970: 1_764_079_200.75)
        var whole = 2.0
        var fraction = 0.1
        var negative = -5
        var small: UInt8 = 255
        var empty: [Int] = []
        var emptyObject: [String: Int] = [:]
        var dictionary = ["b": "2", "a": "1/2", "B": "3"]
        var nested = [[1, 2], [3]]
        var optionalSet: String? = "present"
        var optionalNil: String? = nil
    }

    @Test func keysSortNullsNumbersDatesAndNestingMatchJSONEncoder() throws {
        #expect(MessageCoding.encode(Everything()) == (try Self.foundation(Everything())))
        #expect(MessageCoding.encode([Self.awkward: Self.awkward]) == (try Self.foundation([Self.awkward: Self.awkward])))
        #expect(MessageCoding.encode(["x", "y"]) == (try Self.foundation(["x", "y"])))
        #expect(MessageCoding.encode(42) == "42")
    }
}
