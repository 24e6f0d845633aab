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
/// to do a batch in a few statements (the consumer calls
/// ``handleBatchDeferringWrites(_:connection:logger:)``, whose default calls this). When a
/// batch throws, the transaction rolls back and the consumer hands over each of its messages
/// again alone, as a batch of one, so one failing message never holds back the others.
public protocol MessageHandler: Sendable {
    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage]

    /// Handles messages in delivery order, in one transaction.
    func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage]

    /// As ``handleBatch(_:connection:logger:)``, but may leave its last writes to the statement
    /// that publishes its messages (``HandledBatch/finalWrites``): one round trip less per batch.
    /// The consumer calls this one; its default runs `handleBatch` and leaves nothing.
    func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch
}

/// What a handler did with a batch: the messages to publish, and the writes (if any) that it
/// left to the statement publishing them.
public struct HandledBatch: Sendable {
    public var messages: [OutgoingMessage]
    /// Writes that run in the publishing statement, before the commit: they take effect exactly
    /// when the messages are published, and a failure in them fails the batch as the handler's
    /// own failure would.
    public var finalWrites: (any FinalWrites)?
    /// Runs once the batch's transaction has committed (not when it rolls back): to count what
    /// the batch did.
    public var onCommit: (@Sendable () -> Void)?

    public init(messages: [OutgoingMessage], finalWrites: (any FinalWrites)? = nil, onCommit: (@Sendable () -> Void)? = nil) {
        self.messages = messages
        self.finalWrites = finalWrites
        self.onCommit = onCommit
    }
}

/// A handler's last writes as `WITH` members, for the statement that publishes its messages
/// (see ``MessagePublisher/publish(_:with:notifyAtCommit:on:logger:)``).
///
/// Every member that writes must be data-modifying (`INSERT`, `UPDATE`, `DELETE`): PostgreSQL
/// runs those whether or not the statement reads them. Names must not clash with
/// ``MessageInsert``'s (`published`, `notified`). Parameters are numbered from `$1`.
public protocol FinalWrites: Sendable {
    /// The `WITH` members, without `WITH`.
    static var ctes: String { get }
    static var parameterCount: Int { get }
    func appendBindings(to bindings: inout PostgresBindings)
}

extension FinalWrites {
    /// Runs the writes now, in a statement of their own (a handler called outside a consumer,
    /// or a batch's writes that later reads of the same batch must see).
    public func run(on connection: PostgresConnection, logger: Logger) async throws {
        for try await _ in try await connection.execute(BusStatements.WritesAlone(writes: self), logger: logger) {}
    }
}

extension MessageHandler {
    public func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        HandledBatch(messages: try await handleBatch(envelopes, connection: connection, logger: logger))
    }

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
