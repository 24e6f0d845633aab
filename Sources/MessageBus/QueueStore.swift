import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// A message a consumer holds under a lease.
public struct ClaimedMessage: Sendable {
    public var envelope: Envelope
    public var leaseToken: UUID
}

/// The SQL behind claiming, acknowledging, retrying and dead-lettering.
public struct QueueStore: Sendable {
    public let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    /// Claims up to `limit` visible messages with `FOR UPDATE SKIP LOCKED`, leasing them for
    /// `lease`. Each claim counts as a delivery attempt.
    public func claim(queue: Queue, limit: Int, lease: Duration, logger: Logger) async throws -> [ClaimedMessage] {
        let token = UUID()
        let leaseMS = lease.milliseconds
        let rows = try await client.query(
            """
            UPDATE bus.messages m
               SET lease_token = \(token), attempts = m.attempts + 1,
                   visible_at = now() + \(leaseMS) * interval '1 millisecond'
              FROM (SELECT id FROM bus.messages
                     WHERE queue = \(queue.rawValue) AND visible_at <= now()
                     ORDER BY visible_at
                     LIMIT \(limit)
                     FOR UPDATE SKIP LOCKED) c
             WHERE m.id = c.id
            RETURNING m.id, m.saga_id, m.causation_id, m.type, m.created_at, m.attempts, m.headers::text, m.payload::text
            """,
            logger: logger
        )
        var claimed: [ClaimedMessage] = []
        for try await (id, saga, causation, type, created, attempts, headers, payload)
            in rows.decode((UUID, UUID, UUID?, String, Date, Int, String, String).self)
        {
            let headerValues = (try? MessageCoding.decoder.decode([String: String].self, from: Data(headers.utf8))) ?? [:]
            claimed.append(ClaimedMessage(
                envelope: Envelope(
                    messageID: id, sagaID: saga, causationID: causation, typeName: type,
                    timestamp: created, attempt: attempts, headers: headerValues, payload: payload),
                leaseToken: token))
        }
        return claimed
    }

    /// Acknowledges a message inside the handler's transaction: deletes it if the lease is still
    /// ours. Returns false when the lease was lost (another consumer owns the message now).
    func acknowledge(_ message: ClaimedMessage, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "DELETE FROM bus.messages WHERE id = \(message.envelope.messageID) AND lease_token = \(message.leaseToken) RETURNING id",
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Records the message as handled by `consumer`; false if it had been handled before.
    func markProcessed(_ message: ClaimedMessage, consumer: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO bus.processed_messages (consumer, message_id) VALUES (\(consumer), \(message.envelope.messageID))
            ON CONFLICT DO NOTHING RETURNING message_id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Makes a failed message visible again after `delay`, keeping the error.
    func retry(_ message: ClaimedMessage, after delay: Duration, error: String, logger: Logger) async throws {
        _ = try await client.query(
            """
            UPDATE bus.messages
               SET visible_at = now() + \(delay.milliseconds) * interval '1 millisecond',
                   lease_token = NULL, last_error = \(error)
             WHERE id = \(message.envelope.messageID) AND lease_token = \(message.leaseToken)
            """,
            logger: logger
        ).collect()
    }

    /// Gives a claimed message back at once (on shutdown), without counting the attempt.
    func release(_ message: ClaimedMessage, logger: Logger) async throws {
        _ = try await client.query(
            """
            UPDATE bus.messages SET visible_at = now(), lease_token = NULL, attempts = greatest(attempts - 1, 0)
             WHERE id = \(message.envelope.messageID) AND lease_token = \(message.leaseToken)
            """,
            logger: logger
        ).collect()
    }

    /// Moves a message to the dead letters with its last error.
    func deadLetter(_ message: ClaimedMessage, error: String, logger: Logger) async throws {
        _ = try await client.query(
            """
            WITH dead AS (
                DELETE FROM bus.messages WHERE id = \(message.envelope.messageID) AND lease_token = \(message.leaseToken)
                RETURNING *)
            INSERT INTO bus.dead_letters (id, queue, type, saga_id, causation_id, payload, headers, created_at, attempts, error)
            SELECT id, queue, type, saga_id, causation_id, payload, headers, created_at, attempts, \(error) FROM dead
            ON CONFLICT (id) DO NOTHING
            """,
            logger: logger
        ).collect()
    }
}
