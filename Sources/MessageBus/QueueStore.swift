import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// A message a consumer holds inside its open transaction.
public struct ClaimedMessage: Sendable {
    public var envelope: Envelope
    /// False when the processed-messages ledger already had this id: a redelivery to skip.
    public var isFirstDelivery: Bool
    /// Seconds from when the message became due to the start of the statement that claimed it,
    /// by the server's clock. A message is due from the start of the transaction that published
    /// it, or later when it was published with a delay or put back for a retry.
    public var waited: Double
    /// The headers as they are stored, written back unchanged when the message is retried or
    /// dead-lettered. ``Envelope/headers`` holds them decoded, or none when they are not a JSON
    /// object of strings (written by something other than this bus's publisher).
    public var storedHeaders: String
}

/// The SQL behind claiming, acknowledging, retrying and dead-lettering.
///
/// A claim is a `DELETE … RETURNING` of visible messages under `FOR UPDATE SKIP LOCKED`,
/// inside the transaction that then runs the handler and publishes its messages. The claimed
/// rows stay locked (invisible to other consumers) until that transaction ends: a commit
/// acknowledges them, a rollback or a lost connection puts them back at once. The same
/// statement records the ids in `bus.processed_messages` and says which were seen before.
/// A failed message is put back (or dead-lettered) by the transaction that claimed it alone
/// by id after its batch failed, rolled back to a savepoint taken before the handler ran.
public struct QueueStore: Sendable {
    public init() {}

    /// Claims up to `limit` visible messages of `queue` in the open transaction of `connection`.
    public func claim(queue: Queue, consumer: String, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [ClaimedMessage] {
        let rows = try await connection.execute(BusStatements.Claim(queue: queue.rawValue, limit: limit, consumer: consumer), logger: logger)
        var claimed: [ClaimedMessage] = []
        for try await row in rows { claimed.append(Self.claimed(row)) }
        return claimed
    }

    /// Claims one message by id, if it is still queued, visible and not held by anyone else.
    func claim(_ id: UUID, consumer: String, on connection: PostgresConnection, logger: Logger) async throws -> ClaimedMessage? {
        try await connection.execute(BusStatements.ClaimOne(id: id, consumer: consumer), logger: logger).lastElement().map(Self.claimed)
    }

    /// What ``countHandling(queue:lease:on:logger:)`` found.
    enum CountedMessage {
        /// The message whose handling it counted, and its count, this handling included.
        case counted(id: UUID, interruptions: Int)
        /// Nothing to count now, but a visible message counted elsewhere less than a lease ago:
        /// its counter may still be about to claim it.
        case leasedElsewhere
        /// Nothing visible to count.
        case empty
    }

    /// Counts a handling of the oldest visible message of `queue` that no transaction holds and
    /// no consumer counted less than `lease` ago, in a statement of its own that commits before
    /// the handler runs (see `BusConsumer`'s counted handlings): adds one to its `interruptions`
    /// and stamps `counted_at`. The stamp leaves the message to this counter for `lease`: a
    /// consumer in another process counting at the same moment takes the next one, instead of
    /// counting this handling too. A stamp further ahead than `lease` (the server's clock set
    /// back since) counts as run out.
    func countHandling(queue: Queue, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> CountedMessage {
        let rows = try await connection.query(
            """
            WITH counted AS (
                UPDATE bus.messages SET interruptions = interruptions + 1, counted_at = now()
                 WHERE id = (SELECT id FROM bus.messages
                              WHERE queue = \(queue.rawValue) AND visible_at <= now()
                                AND (counted_at IS NULL OR counted_at NOT BETWEEN now() - \(lease.milliseconds) * interval '1 millisecond'
                                                                                  AND now() + \(lease.milliseconds) * interval '1 millisecond')
                              ORDER BY visible_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, interruptions)
            SELECT id, interruptions, false FROM counted
            UNION ALL
            SELECT NULL, NULL, EXISTS (SELECT FROM bus.messages
                                        WHERE queue = \(queue.rawValue) AND visible_at <= now()
                                          AND counted_at BETWEEN now() - \(lease.milliseconds) * interval '1 millisecond'
                                                             AND now() + \(lease.milliseconds) * interval '1 millisecond')
             WHERE NOT EXISTS (SELECT FROM counted)
            """,
            logger: logger)
        switch try await rows.decode((UUID?, Int?, Bool).self).lastElement() {
        case (let id?, let interruptions?, _)?: return .counted(id: id, interruptions: interruptions)
        case (_, _, true)?: return .leasedElsewhere
        default: return .empty
        }
    }

    /// Takes back the count of a counted handling that ended without committing in a way its
    /// consumer saw (a lock timeout, a deadlock): that handling was not interrupted.
    func uncountHandling(_ id: UUID, client: PostgresClient, logger: Logger) async throws {
        _ = try await client.query(
            "UPDATE bus.messages SET interruptions = interruptions - 1, counted_at = NULL WHERE id = \(id) AND interruptions > 0",
            logger: logger
        ).collect()
    }

    static func claimed(_ row: BusStatements.ClaimedRow) -> ClaimedMessage {
        let (id, saga, causation, type, created, attempt, headers, payload, first, waited) = row
        let headerValues = headers == "{}" ? [:] : (try? MessageCoding.decode([String: String].self, from: headers)) ?? [:]
        return ClaimedMessage(
            envelope: Envelope(
                messageID: id, sagaID: saga, causationID: causation, typeName: type,
                timestamp: created, attempt: attempt, headers: headerValues, payload: payload),
            isFirstDelivery: first, waited: waited, storedHeaders: headers)
    }

    /// Puts a claimed message whose handler failed back on its queue, in the claiming
    /// transaction (after rolling back to before the handler): visible again after `delay`,
    /// with the attempt counted, the error kept and its ledger entry removed.
    func requeue(_ claimed: ClaimedMessage, queue: Queue, consumer: String, after delay: Duration, error: String,
                 on connection: PostgresConnection, logger: Logger) async throws {
        let message = claimed.envelope
        _ = try await connection.query(
            """
            WITH unrecorded AS (
                DELETE FROM bus.processed_messages WHERE consumer = \(consumer) AND message_id = \(message.messageID))
            INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers, created_at, visible_at, attempts, last_error)
            VALUES (\(message.messageID), \(queue.rawValue), \(message.typeName), \(message.sagaID), \(message.causationID),
                    \(message.payload), \(claimed.storedHeaders), \(message.timestamp),
                    now() + \(delay.milliseconds) * interval '1 millisecond', \(message.attempt), \(error))
            """,
            logger: logger
        ).collect()
    }

    /// Makes queued messages visible again only after `delay`, their attempts unchanged: for
    /// messages that could not be handled for a reason that is not theirs (a row they need is
    /// locked elsewhere). Runs on its own; a message claimed meanwhile is simply not there, and
    /// one put back meanwhile for later stays as late as it was.
    func postpone(_ ids: [UUID], queue: Queue, by delay: Duration, reason: String, client: PostgresClient, logger: Logger) async throws {
        _ = try await client.query(
            """
            UPDATE bus.messages SET visible_at = greatest(visible_at, now() + \(delay.milliseconds) * interval '1 millisecond'),
                                    last_error = \(reason)
             WHERE id = ANY(\(ids)) AND queue = \(queue.rawValue)
            """,
            logger: logger
        ).collect()
    }

    /// Moves a claimed message to the dead letters with its last error, in the claiming
    /// transaction (after rolling back to before the handler). A dead letter under the same id
    /// (a copy of this message that died before) is brought up to date with this delivery.
    func deadLetter(_ claimed: ClaimedMessage, queue: Queue, consumer: String, error: String,
                    on connection: PostgresConnection, logger: Logger) async throws {
        let message = claimed.envelope
        _ = try await connection.query(
            """
            WITH unrecorded AS (
                DELETE FROM bus.processed_messages WHERE consumer = \(consumer) AND message_id = \(message.messageID))
            INSERT INTO bus.dead_letters (id, queue, type, saga_id, causation_id, payload, headers, created_at, attempts, error)
            VALUES (\(message.messageID), \(queue.rawValue), \(message.typeName), \(message.sagaID), \(message.causationID),
                    \(message.payload), \(claimed.storedHeaders), \(message.timestamp),
                    \(message.attempt), \(error))
            ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, error = excluded.error, dead_at = now()
            """,
            logger: logger
        ).collect()
    }
}
