import Foundation

/// A message that can travel on the bus.
///
/// Commands are imperative (`ReserveTickets`) and go to the service that owns the work;
/// events are past tense (`TicketsReserved`) and say that something happened.
///
/// A message writes and reads its own JSON (``JSONWritable``, ``JSONReadable``): every message
/// crosses the bus, so its coding is on the hot path; tests hold the text to `JSONEncoder`'s.
public protocol Message: Codable, Sendable, Equatable, JSONWritable, JSONReadable {
    /// The name without version, for example `ReserveTickets`.
    static var name: String { get }
    /// The schema version of the payload.
    static var version: Int { get }
    /// The queue that receives this message.
    static var destination: Queue { get }
}

extension Message {
    public static var version: Int { 1 }
    /// The versioned type name carried in the envelope, `Name.vN`.
    public static var typeName: String { "\(name).v\(version)" }
}

/// The durable queues, one per consuming service.
public enum Queue: String, Sendable, CaseIterable, Codable {
    case orchestrator
    case inventory
    case invoicing
    case payment
    case ordering
}

/// One order line: how many tickets of one type.
public struct OrderLine: Codable, Sendable, Hashable {
    public var ticketTypeID: UUID
    public var quantity: Int

    /// The quantities a message may carry. The API allows far fewer per line; this bound keeps
    /// a message from elsewhere (a dead letter edited and sent again, a future publisher) from
    /// overflowing a participant's sums: outside it, the message does not decode and is
    /// dead-lettered.
    public static let quantities = 1...1_000_000
    /// The lines a message may carry.
    public static let lineCounts = 1...100

    public init(ticketTypeID: UUID, quantity: Int) {
        self.ticketTypeID = ticketTypeID
        self.quantity = quantity
    }
}

/// Amounts in cents that a message may carry: never negative, and far enough from `Int.max`
/// that sums and refunds (negated) of them cannot overflow.
public enum AmountCents {
    public static let range = 0...1_000_000_000_000_000
}
