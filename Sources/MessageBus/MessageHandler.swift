import EvenTicketContracts
import Logging
import PostgresNIO

/// Handles the messages of one queue.
///
/// `handle` runs inside the transaction that also acknowledges the message and publishes
/// what it returns: its effects, its outgoing messages and the acknowledgement commit together
/// or not at all.
public protocol MessageHandler: Sendable {
    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage]
}

/// A failure that retrying cannot fix: the message goes straight to the dead letters.
public struct PermanentFailure: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }

    /// The message's type is not one this consumer knows.
    public static func unknownType(_ envelope: Envelope, queue: Queue) -> PermanentFailure {
        PermanentFailure("unknown message type \(envelope.typeName) on queue \(queue.rawValue)")
    }
}
