import EvenTicketContracts
import Foundation

/// An order as clients see it.
public struct Order: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, confirmed, rejected
    }

    public struct Line: Sendable, Codable, Equatable {
        public var ticketTypeId: UUID
        public var quantity: Int
        public init(ticketTypeId: UUID, quantity: Int) {
            self.ticketTypeId = ticketTypeId
            self.quantity = quantity
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
}
