import Database
import Foundation
import PostgresNIO

/// The bus's hot statements, prepared once per connection: PostgreSQL parses and plans them
/// once instead of on every batch.
enum BusStatements {
    /// Records claimed messages in the processed-messages ledger, unless they are there already
    /// (then the claim returns them as redeliveries). A plain insert behind a probe, not
    /// `ON CONFLICT DO NOTHING`: a speculative insertion costs one more index probe and WAL
    /// record per message (measured: the ledger took 12.6 µs per message that way, 5.8 this
    /// way). Nothing can insert the same key meanwhile: a message is claimed by one transaction
    /// at a time, and a copy queued again under its id is claimed only after that transaction
    /// committed, when its entry is visible. The primary key still refuses a duplicate.
    ///
    /// The probe is one primary-key lookup per claimed message, whatever the statistics say:
    /// `OFFSET 0` keeps PostgreSQL from turning the `NOT EXISTS` into an anti-join (its
    /// documented optimization fence). Without it the generic plan, made while the ledger was
    /// small, hashed the consumer's whole ledger on every claim (seen with `auto_explain`: 1,154
    /// entries read for a batch of 50 at 1,000 orders/s, a fifth of the claim's time, growing
    /// with the ledger until a new ANALYZE changed the plan).
    static func ledgerInsert(consumer: String) -> String {
        """
        INSERT INTO bus.processed_messages (consumer, message_id)
        SELECT \(consumer), c.id FROM claimed c
         WHERE NOT EXISTS (SELECT 1 FROM bus.processed_messages p WHERE p.consumer = \(consumer) AND p.message_id = c.id
                           OFFSET 0)
        RETURNING message_id
        """
    }

    /// What a claim returns of each message: its envelope's fields (the attempt counted),
    /// whether this is its first delivery, and how many seconds it waited for this claim since
    /// it became due (see ``ClaimedMessage/waited``).
    typealias ClaimedRow = (UUID, UUID, UUID?, String, Date, Int, String, String, Bool, Double)

    static func claimedRow(_ row: PostgresRow) throws -> ClaimedRow {
        var columns = RowReader(row)
        return try claimedRow(&columns)
    }

    static func claimedRow(_ columns: inout RowReader) throws -> ClaimedRow {
        try claimedRow(id: columns.next(UUID.self), &columns)
    }

    /// As ``claimedRow(_:)-(RowReader)``, the message's id read already.
    static func claimedRow(id: UUID, _ columns: inout RowReader) throws -> ClaimedRow {
        (id, try columns.next(UUID.self), try columns.next(UUID?.self), try columns.next(String.self),
         try columns.next(Date.self), try columns.next(Int.self), try columns.next(String.self), try columns.next(String.self),
         try columns.next(Bool.self), try columns.next(Double.self))
    }

    static let claimedColumns = """
        c.id, c.saga_id, c.causation_id, c.type, c.created_at, c.attempts + 1, c.headers, c.payload, f.message_id IS NOT NULL,
        date_part('epoch', statement_timestamp() - c.visible_at)
        """

    static let claimedRows = """
        SELECT \(claimedColumns)
          FROM claimed c LEFT JOIN first f ON f.message_id = c.id
        """

    /// Claims one message by id, if it is still queued and visible, and records it in the
    /// ledger (a failed batch's messages, handled one by one). A consumer that took the message
    /// after the failed batch rolled back is waited for: it has then handled the message (or
    /// put it back for later, a new row), and there is nothing to claim; or it rolled back, and
    /// the message is claimed here. Skipping it instead could leave a message that fails in
    /// every batch to be taken by batches for ever, its failure never recorded. The waiting
    /// transaction holds no other lock, so it cannot deadlock.
    struct ClaimOne: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = """
            WITH claimed AS (
                DELETE FROM bus.messages
                 WHERE id IN (SELECT id FROM bus.messages WHERE id = $1 AND visible_at <= now() FOR UPDATE)
                RETURNING id, saga_id, causation_id, type, created_at, attempts, headers, payload, visible_at),
            first AS (\(ledgerInsert(consumer: "$2")))
            \(claimedRows)
            """
        typealias Row = ClaimedRow

        var id: UUID
        var consumer: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(id)
            bindings.append(consumer)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try claimedRow(row) }
    }

    /// Claims up to `limit` visible messages of a queue and records them in the ledger; see
    /// ``QueueStore/claim(queue:consumer:limit:on:logger:)``. The locked rows are deleted by
    /// their physical address (a TID scan, whatever the plan), which the lock keeps stable.
    struct Claim: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = """
            WITH \(claimedBatch)
            \(claimedRows)
             ORDER BY c.visible_at, c.id
            """

        /// The claim's `WITH` members: `claimed` (the messages) and `first` (their first deliveries).
        static let claimedBatch = """
            claimed AS (
                DELETE FROM bus.messages
                 WHERE ctid = ANY(ARRAY(SELECT ctid \(candidates)))
                \(claimedReturning)),
            first AS (\(ledgerInsert(consumer: "$3")))
            """

        /// The visible messages a batch may take, oldest first, locked (after a `SELECT` list).
        static let candidates = """
            FROM bus.messages
             WHERE queue = $1 AND visible_at <= now()
             ORDER BY visible_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED
            """

        static let claimedReturning = "RETURNING id, saga_id, causation_id, type, created_at, attempts, headers, payload, visible_at"
        typealias Row = ClaimedRow

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

        func decodeRow(_ row: PostgresRow) throws -> Row { try claimedRow(row) }
    }

    /// As ``Claim``, also locking and reading `Rows` for the claimed messages' sagas (see
    /// ``ClaimedSagaRows``): each message's row carries its saga's, NULL when there is none. Of
    /// the candidates, it claims those whose saga's row it could lock or that have none; the
    /// others stay queued, locked by nothing once this transaction ends. Every row also carries
    /// the number of candidates; with nothing claimed, one row carries it alone.
    struct ClaimWithRows<Rows: ClaimedSagaRows>: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static var sql: String {
            StatementText.of(Self.self) {
                """
                WITH candidates AS MATERIALIZED (SELECT ctid, saga_id \(Claim.candidates)),
                claimed_sagas AS (SELECT DISTINCT saga_id FROM candidates),
                saga_rows AS MATERIALIZED (\(Rows.lockingSQL)),
                claimed AS (
                    DELETE FROM bus.messages
                     WHERE ctid = ANY(ARRAY(SELECT c.ctid FROM candidates c
                                             WHERE c.saga_id IN (SELECT saga_id FROM saga_rows)
                                                OR NOT \(Rows.hasRow("c.saga_id"))))
                    \(Claim.claimedReturning)),
                first AS (\(ledgerInsert(consumer: "$3")))
                SELECT n.candidates, \(claimedColumns), r.*
                  FROM (SELECT count(*)::integer AS candidates FROM candidates) n
                       LEFT JOIN (claimed c LEFT JOIN first f ON f.message_id = c.id
                                            LEFT JOIN saga_rows r ON r.saga_id = c.saga_id) ON true
                 ORDER BY c.visible_at, c.id
                """
            }
        }
        /// The candidates, and a claimed message with its saga's row (no message: nothing was claimed).
        typealias Row = (candidates: Int, message: ClaimedRow?, sagaRow: Rows.Row?)

        /// What to claim: the same parameters as ``Claim``'s.
        var claim: Claim

        func makeBindings() throws -> PostgresBindings { try claim.makeBindings() }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            var columns = RowReader(row)
            let candidates = try columns.next(Int.self)
            guard let id = try columns.next(UUID?.self) else { return (candidates, nil, nil) }
            let message = try claimedRow(id: id, &columns)
            guard let sagaID = try columns.next(UUID?.self) else { return (candidates, message, nil) }
            return (candidates, message, try Rows.decode(sagaID: sagaID, &columns))
        }
    }

    /// Inserts messages (the transactional outbox) and, if asked, notifies their queues'
    /// consumers at commit; see ``MessageInsert``.
    struct Publish: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = "WITH \(MessageInsert.ctes()) SELECT \(MessageInsert.notifiedCount)"
        /// How many queues were notified at commit.
        typealias Row = Int

        var insert: MessageInsert

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: MessageInsert.parameterCount)
            insert.appendBindings(to: &bindings)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }

    /// Notifies the consumers of queues; see ``MessagePublisher/notify(_:on:logger:)``.
    struct Notify: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = """
            SELECT count(*)::int FROM (SELECT pg_notify('\(MessagePublisher.channelPrefix)' || q, '') FROM unnest($1::text[]) AS q) AS sent
            """
        typealias Row = Int

        var queues: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(queues)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }

    /// A handler's final writes, alone; see ``FinalWrites/run(on:logger:)``.
    struct WritesAlone<Writes: FinalWrites>: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static var sql: String { StatementText.of(Self.self) { "WITH \(Writes.ctes) SELECT 1" } }
        typealias Row = Int

        var writes: Writes

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Writes.parameterCount)
            writes.appendBindings(to: &bindings)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }

    /// A handler's final writes and the insert of its messages, in one statement; see
    /// ``FinalWrites``.
    struct PublishWith<Writes: FinalWrites>: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static var sql: String {
            StatementText.of(Self.self) {
                """
                WITH \(Writes.ctes),
                \(StatementPart.renumbering(MessageInsert.ctes(), by: Writes.parameterCount))
                SELECT \(MessageInsert.notifiedCount)
                """
            }
        }
        /// How many queues were notified at commit.
        typealias Row = Int

        var writes: Writes
        var insert: MessageInsert

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Writes.parameterCount + MessageInsert.parameterCount)
            writes.appendBindings(to: &bindings)
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
