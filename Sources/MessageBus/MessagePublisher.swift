import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// Publishes messages inside the caller's transaction: the transactional outbox.
///
/// The queue table is the outbox, so a message exists exactly when the transaction that
/// published it commits. With `notify`, one `NOTIFY` per queue wakes the consumers once the
/// transaction commits (PostgreSQL delivers notifications at commit and folds duplicates).
/// Hot paths pass `notify: false` and hand the queues to a ``BusNotifier`` after the commit
/// instead, since a `NOTIFY` serialises committing transactions.
public enum MessagePublisher {
    /// The channel consumers LISTEN on; the payload is the queue name.
    public static let channel = "eventicket_bus"

    public static func publish(_ messages: [OutgoingMessage], on connection: PostgresConnection, notify: Bool = true, logger: Logger) async throws {
        guard !messages.isEmpty else { return }
        var insert = BusStatements.Publish()
        for message in messages {
            insert.ids.append(message.envelope.messageID)
            insert.queues.append(message.queue.rawValue)
            insert.types.append(message.envelope.typeName)
            insert.sagas.append(message.envelope.sagaID)
            insert.causations.append(message.envelope.causationID ?? .none)
            insert.payloads.append(message.envelope.payload)
            insert.headers.append(message.envelope.headers.isEmpty ? "{}" : MessageCoding.encode(message.envelope.headers))
            insert.delays.append(message.delay.milliseconds)
        }
        _ = try await connection.execute(insert, logger: logger)
        let wake = BusNotifier.queuesToWake(messages).sorted()
        if notify, !wake.isEmpty {
            _ = try await connection.query(
                "SELECT pg_notify(\(channel), q) FROM unnest(\(wake)::text[]) AS q",
                logger: logger
            ).collect()
        }
    }
}
