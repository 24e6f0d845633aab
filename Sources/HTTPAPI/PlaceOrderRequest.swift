import EvenTicketContracts
import Foundation
import Ordering

/// The body of `POST /orders`, before validation.
struct PlaceOrderRequest: Decodable, JSONReadable {
    struct Line: Decodable, JSONReadable {
        var ticketTypeId: String?
        var quantity: Int?

        init(json: JSONObjectReader) throws {
            try json.onlyKeys(["ticketTypeId", "quantity"])
            ticketTypeId = try json.stringIfPresent("ticketTypeId")
            quantity = try json.intIfPresent("quantity")
        }
    }

    var customerId: String?
    var eventId: String?
    var lines: [Line]?
    var paymentToken: String?

    /// What `Decodable` would read (every field optional), without its runtime machinery: the
    /// hottest request body.
    init(json: JSONObjectReader) throws {
        try json.onlyKeys(["customerId", "eventId", "lines", "paymentToken"])
        customerId = try json.stringIfPresent("customerId")
        eventId = try json.stringIfPresent("eventId")
        lines = try json.arrayIfPresent("lines")
        paymentToken = try json.stringIfPresent("paymentToken")
    }

    static let maximumLines = 20
    static let maximumQuantity = 100

    /// The request after validation, in canonical form.
    struct Valid: Encodable, JSONWritable {
        var customerId: String
        var eventId: UUID
        var lines: [Order.Line]
        var paymentToken: String

        func writeJSON(to json: inout JSONWriter) {
            json.object { json in
                json.member("customerId", customerId)
                json.member("eventId", eventId)
                json.member("lines", lines)
                json.member("paymentToken", paymentToken)
            }
        }
    }

    func validated() throws -> Valid {
        let customerId = try TextField.validated(customerId, field: "customerId", maximum: 100)
        guard let eventText = eventId else { throw Problem.invalid("eventId", "is required") }
        guard let eventId = UUID(text: eventText) else { throw Problem.invalid("eventId", "must be a UUID") }
        guard let lines, !lines.isEmpty else { throw Problem.invalid("lines", "must hold at least one line") }
        guard lines.count <= Self.maximumLines else { throw Problem.invalid("lines", "must hold at most \(Self.maximumLines) lines") }
        var valid: [Order.Line] = []
        for (index, line) in lines.enumerated() {
            guard let text = line.ticketTypeId else { throw Problem.invalid("lines[\(index)].ticketTypeId", "is required") }
            guard let id = UUID(text: text) else { throw Problem.invalid("lines[\(index)].ticketTypeId", "must be a UUID") }
            guard let quantity = line.quantity else { throw Problem.invalid("lines[\(index)].quantity", "is required") }
            guard (1...Self.maximumQuantity).contains(quantity) else {
                throw Problem.invalid("lines[\(index)].quantity", "must be between 1 and \(Self.maximumQuantity)")
            }
            guard !valid.contains(where: { $0.ticketTypeId == id }) else {
                throw Problem.invalid("lines[\(index)].ticketTypeId", "appears in more than one line")
            }
            valid.append(Order.Line(ticketTypeId: id, quantity: quantity))
        }
        guard let paymentToken else { throw Problem.invalid("paymentToken", "is required") }
        guard PaymentToken.isWellFormed(paymentToken) else {
            throw Problem.invalid("paymentToken", "must be tok_ followed by 1 to 64 letters, digits or underscores")
        }
        return Valid(customerId: customerId, eventId: eventId, lines: valid, paymentToken: paymentToken)
    }
}
