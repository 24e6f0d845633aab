import EvenTicketContracts
import Foundation

/// An order as clients see it.
public struct Order: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, confirmed, rejected
    }

    public struct Line: Sendable, Codable, Equatable, JSONWritable, JSONReadable {
        public var ticketTypeId: UUID
        public var quantity: Int
        public init(ticketTypeId: UUID, quantity: Int) {
            self.ticketTypeId = ticketTypeId
            self.quantity = quantity
        }

        public func writeJSON(to json: inout JSONWriter) {
            json.object { json in
                json.member("quantity", quantity)
                json.member("ticketTypeId", ticketTypeId)
            }
        }

        public init(json: JSONObjectReader) throws {
            self.init(ticketTypeId: try json.uuid("ticketTypeId"), quantity: try json.int("quantity"))
        }
    }

    public var orderId: UUID
    public var sagaId: UUID
    public var customerId: String
    public var eventId: UUID
    public var status: Status
    public var reason: String?
    public var totalCents: Int
    public var currency: String
    public var lines: [Line]
    public var createdAt: Date
    public var updatedAt: Date

    private enum CodingKeys: String, CodingKey {
        case orderId, sagaId, customerId, eventId, status, reason, totalCents, currency, lines, createdAt, updatedAt
    }

    /// Encodes every key, `reason` as `null` while the order has none.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(sagaId, forKey: .sagaId)
        try container.encode(customerId, forKey: .customerId)
        try container.encode(eventId, forKey: .eventId)
        try container.encode(status, forKey: .status)
        try container.encode(reason, forKey: .reason)
        try container.encode(totalCents, forKey: .totalCents)
        try container.encode(currency, forKey: .currency)
        try container.encode(lines, forKey: .lines)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}
