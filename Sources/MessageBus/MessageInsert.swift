import Database
import EvenTicketContracts
import Foundation
import PostgresNIO

/// The insert behind publishing: messages as rows of `bus.messages`, bound as column arrays,
/// and, when the publisher asks for it (see ``Wakeups/notifiesAtCommit``), the `NOTIFY` that
/// wakes their consumers when the transaction commits.
///
/// ``MessagePublisher`` runs it as a prepared statement of its own. A caller that writes other
/// tables in the same round trip composes ``ctes(onlySagasIn:)`` into its own statement (see
/// ``StatementPart``), binds ``appendBindings(to:)`` where its parameters start, and makes its
/// statement read ``notifiedCount`` (a `WITH` member that nothing reads is not run).
///
/// Ids are new time-ordered UUIDs made by the publisher, so a plain insert suffices: an
/// `ON CONFLICT` clause would make every row a speculative insertion (one more index probe and
/// WAL record each) for a clash that cannot happen; if it ever did, the publishing transaction
/// would fail and be retried whole.
public struct MessageInsert: Sendable {
    /// Parameters `$1` to `$9`.
    public static let parameterCount = 9

    /// The `WITH` members `published` (the rows inserted) and `notified`: when `$9` is true, one
    /// `NOTIFY` on ``MessagePublisher/channel(for:)`` per queue that received a message due now
    /// (a delayed message wakes nobody; consumers poll for it). With `onlySagasIn` (a subquery
    /// that yields saga ids), only the messages of those sagas are inserted.
    public static func ctes(onlySagasIn sagas: String? = nil) -> String {
        """
        published AS (
            INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers, visible_at)
            SELECT m.id, m.queue, m.type, m.saga_id, NULLIF(m.causation_id, '00000000-0000-0000-0000-000000000000'::uuid),
                   m.payload, m.headers, now() + m.delay_ms * interval '1 millisecond'
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::bigint[])
                   AS m(id, queue, type, saga_id, causation_id, payload, headers, delay_ms)
            \(sagas.map { "WHERE m.saga_id IN (\($0))" } ?? "")
            RETURNING queue, visible_at),
        notified AS (
            SELECT pg_notify('\(MessagePublisher.channelPrefix)' || queue, '')
              FROM (SELECT DISTINCT queue FROM published WHERE $9 AND visible_at <= now()) AS due)
        """
    }

    /// An expression that reads `notified`, for the statement's select list or condition.
    public static let notifiedCount = "(SELECT count(*) FROM notified)"

    var ids: [UUID] = []
    var queues: [String] = []
    var types: [String] = []
    var sagas: [UUID] = []
    /// The zero UUID stands for none.
    var causations: [UUID] = []
    var payloads: [String] = []
    var headers: [String] = []
    var delays: [Int64] = []
    var notifyAtCommit: Bool

    /// `notifyAtCommit`: whether the transaction's commit notifies the messages' consumers. A
    /// publisher whose ``BusNotifier`` holds a connection passes false and has it notify after
    /// the commit, which keeps the commit out of PostgreSQL's notification lock (see
    /// ``BusNotifier``, ``Wakeups/notifiesAtCommit``).
    public init(_ messages: [OutgoingMessage], notifyAtCommit: Bool) {
        self.notifyAtCommit = notifyAtCommit
        for message in messages {
            ids.append(message.envelope.messageID)
            queues.append(message.queue.rawValue)
            types.append(message.envelope.typeName)
            sagas.append(message.envelope.sagaID)
            causations.append(message.envelope.causationID ?? .none)
            payloads.append(message.envelope.payload)
            headers.append(message.envelope.headers.isEmpty ? "{}" : MessageCoding.encode(message.envelope.headers))
            delays.append(message.delay.milliseconds)
        }
    }

    /// Appends the values of `$1` to `$9`, in order.
    public func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(ids)
        bindings.append(queues)
        bindings.append(types)
        bindings.append(sagas)
        bindings.append(causations)
        bindings.append(payloads)
        bindings.append(headers)
        bindings.append(delays)
        bindings.append(notifyAtCommit)
    }
}
