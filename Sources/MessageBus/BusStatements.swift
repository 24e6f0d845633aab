import Database
import Foundation
import PostgresNIO

/// The bus's hot statements, prepared once per connection: PostgreSQL parses and plans them
/// once instead of on every batch.
enum BusStatements {
    /// Claims up to `limit` visible messages of a queue and records them in the ledger; see
    /// ``QueueStore/claim(queue:consumer:limit:on:logger:)``. The locked rows are deleted by
    /// their physical address (a TID scan, whatever the plan), which the lock keeps stable.
    struct Claim: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = """
            WITH claimed AS (
                DELETE FROM bus.messages
                 WHERE ctid = ANY(ARRAY(SELECT ctid FROM bus.messages
                                         WHERE queue = $1 AND visible_at <= now()
                                         ORDER BY visible_at
                                         LIMIT $2
                                         FOR UPDATE SKIP LOCKED))
                RETURNING id, saga_id, causation_id, type, created_at, attempts, headers, payload, visible_at),
            first AS (
                INSERT INTO bus.processed_messages (consumer, message_id)
                SELECT $3, id FROM claimed
                ON CONFLICT DO NOTHING
                RETURNING message_id)
            SELECT c.id, c.saga_id, c.causation_id, c.type, c.created_at, c.attempts + 1, c.headers::text, c.payload::text,
                   f.message_id IS NOT NULL
              FROM claimed c LEFT JOIN first f ON f.message_id = c.id
             ORDER BY c.visible_at, c.id
            """
        typealias Row = (UUID, UUID, UUID?, String, Date, Int, String, String, Bool)

        var queue: String
        var limit: Int
        var consumer: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(queue)
            bindings.append(limit)
            bindings.append(consumer)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Inserts messages (the transactional outbox). Ids are new time-ordered UUIDs made by the
    /// publisher, so a plain insert suffices: an `ON CONFLICT` clause would make every row a
    /// speculative insertion (one more index probe and WAL record each) for a clash that cannot
    /// happen; if it ever did, the publishing transaction would fail and be retried whole.
    struct Publish: PostgresPreparedStatement {
        static let sql = """
            INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers, visible_at)
            SELECT m.id, m.queue, m.type, m.saga_id, NULLIF(m.causation_id, '00000000-0000-0000-0000-000000000000'::uuid),
                   m.payload::jsonb, m.headers::jsonb, now() + m.delay_ms * interval '1 millisecond'
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::bigint[])
                   AS m(id, queue, type, saga_id, causation_id, payload, headers, delay_ms)
            """
        typealias Row = ()

        var ids: [UUID] = []
        var queues: [String] = []
        var types: [String] = []
        var sagas: [UUID] = []
        /// The zero UUID stands for none.
        var causations: [UUID] = []
        var payloads: [String] = []
        var headers: [String] = []
        var delays: [Int64] = []

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 8)
            bindings.append(ids)
            bindings.append(queues)
            bindings.append(types)
            bindings.append(sagas)
            bindings.append(causations)
            bindings.append(payloads)
            bindings.append(headers)
            bindings.append(delays)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {}
    }
}

extension UUID {
    /// All zeros: stands for "none" in arrays bound to SQL, which cannot hold optionals here.
    static let none = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
}
