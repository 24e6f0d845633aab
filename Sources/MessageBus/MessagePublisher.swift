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
        var ids: [UUID] = [], queues: [String] = [], types: [String] = [], sagas: [UUID] = []
        var causations: [String] = [], payloads: [String] = [], headers: [String] = [], delays: [Int64] = []
        for message in messages {
            ids.append(message.envelope.messageID)
            queues.append(message.queue.rawValue)
            types.append(message.envelope.typeName)
            sagas.append(message.envelope.sagaID)
            causations.append(message.envelope.causationID?.uuidString ?? "")
            payloads.append(message.envelope.payload)
            headers.append(MessageCoding.encode(message.envelope.headers))
            delays.append(message.delay.milliseconds)
        }
        // A message id published twice is stored once: republishing is idempotent.
        _ = try await connection.query(
            """
            INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers, visible_at)
            SELECT m.id, m.queue, m.type, m.saga_id, NULLIF(m.causation_id, '')::uuid,
                   m.payload::jsonb, m.headers::jsonb, now() + m.delay_ms * interval '1 millisecond'
            FROM unnest(\(ids)::uuid[], \(queues)::text[], \(types)::text[], \(sagas)::uuid[],
                        \(causations)::text[], \(payloads)::text[], \(headers)::text[], \(delays)::bigint[])
                 AS m(id, queue, type, saga_id, causation_id, payload, headers, delay_ms)
            ON CONFLICT (id) DO NOTHING
            """,
            logger: logger
        ).collect()
        let wake = BusNotifier.queuesToWake(messages).sorted()
        if notify, !wake.isEmpty {
            _ = try await connection.query(
                "SELECT pg_notify(\(channel), q) FROM unnest(\(wake)::text[]) AS q",
                logger: logger
            ).collect()
        }
    }
}
