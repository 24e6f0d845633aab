import EvenTicketContracts
import Logging
import PostgresNIO

/// Handles the messages of one queue.
///
/// Handlers run inside the transaction that also acknowledges the messages and publishes what
/// they return: effects, outgoing messages and acknowledgements commit together or not at all.
///
/// The consumer hands over a whole claimed batch with ``handleBatch(_:connection:logger:)``;
/// its default handles the messages one after the other, and set-based handlers override it
/// to do a batch in a few statements. When a batch throws, the transaction rolls back and the
/// consumer handles each of its messages alone with ``handle(_:connection:logger:)``, so one
/// failing message never holds back the others.
public protocol MessageHandler: Sendable {
    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage]

    /// Handles messages in delivery order, in one transaction.
    func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage]
}

extension MessageHandler {
    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        var outgoing: [OutgoingMessage] = []
        for envelope in envelopes {
            outgoing += try await handle(envelope, connection: connection, logger: logger)
        }
        return outgoing
    }
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
