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

    public init(ticketTypeID: UUID, quantity: Int) {
        self.ticketTypeID = ticketTypeID
        self.quantity = quantity
    }
}
