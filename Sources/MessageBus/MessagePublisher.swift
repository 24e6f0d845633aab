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
        _ = try await connection.execute(BusStatements.Publish(insert: MessageInsert(messages)), logger: logger)
        if notify {
            try await self.notify(BusNotifier.queuesToWake(messages), on: connection, logger: logger)
        }
    }

    /// Notifies the consumers of `queues` (inside a transaction, at its commit).
    public static func notify(_ queues: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        guard !queues.isEmpty else { return }
        _ = try await connection.query(
            "SELECT pg_notify(\(channel), q) FROM unnest(\(queues.sorted())::text[]) AS q",
            logger: logger
        ).collect()
    }
}
