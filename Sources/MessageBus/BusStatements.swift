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

    /// Inserts messages (the transactional outbox) and notifies their queues' consumers; see
    /// ``MessageInsert``.
    struct Publish: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = "WITH \(MessageInsert.ctes()) SELECT \(MessageInsert.notifiedCount)"
        /// How many queues were notified.
        typealias Row = Int

        var insert: MessageInsert

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: MessageInsert.parameterCount)
            insert.appendBindings(to: &bindings)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }
}

extension UUID {
    /// All zeros: stands for "none" in arrays bound to SQL, which cannot hold optionals here.
    static let none = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
}
