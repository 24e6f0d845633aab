import Database
import EvenTicketContracts
import Foundation
import Logging
import OrderSaga
import PostgresNIO

/// The orchestrator's own tables: one row per saga, its history and its deadline.
///
/// Every method works on many sagas in one statement, inside the caller's transaction.
public struct SagaStore: Sendable {
    public init() {}

    /// One line of a saga's history.
    public struct HistoryEntry: Sendable, Equatable {
        public var kind: String
        public var message: String
        public var messageID: UUID?
        public var detail: [String: String]

        public init(kind: String, message: String, messageID: UUID? = nil, detail: [String: String] = [:]) {
            self.kind = kind
            self.message = message
            self.messageID = messageID
            self.detail = detail
        }
    }

    /// What a transition does to the saga's deadline.
    enum DeadlineChange: Sendable, Equatable {
        case keep
        case set(after: Duration, token: Int)
        case clear
    }

    /// A saga as stored, with the number of history entries it has.
    struct Stored: Sendable {
        var saga: OrderSaga
        var historyCount: Int
    }

    /// A saga to write back after its transitions.
    struct Change: Sendable {
        var saga: OrderSaga
        var newHistory: [HistoryEntry]
        var historyCount: Int
        var deadline: DeadlineChange
        /// False when only history was added (ignored inputs).
        var stateChanged: Bool
    }

    /// Stores new sagas (with the count of the history they start with), skipping ids that
    /// exist already; returns the ids it inserted.
    func insert(_ changes: [Change], on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        guard !changes.isEmpty else { return [] }
        let sagas = changes.map(\.saga)
        let rows = try await connection.query(
            """
            INSERT INTO orchestrator.sagas (id, order_id, state, step, reason, failure, data, history_seq)
            SELECT u.id, u.order_id, u.state, u.step, NULLIF(u.reason, ''), NULLIF(u.failure, ''), u.data::jsonb, u.history_seq
              FROM unnest(\(sagas.map(\.id))::uuid[], \(sagas.map(\.order.orderID))::uuid[], \(sagas.map(\.state.rawValue))::text[],
                          \(sagas.map(\.step.name))::text[], \(sagas.map { $0.reason ?? "" })::text[], \(sagas.map { $0.failure ?? "" })::text[],
                          \(sagas.map { MessageCoding.encode($0) })::text[], \(changes.map(\.historyCount))::integer[])
                   AS u(id, order_id, state, step, reason, failure, data, history_seq)
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            logger: logger)
        var inserted: Set<UUID> = []
        for try await id in rows.decode(UUID.self) { inserted.insert(id) }
        return inserted
    }

    /// Loads sagas and locks their rows until the transaction ends, in id order (so that
    /// concurrent batches never deadlock). With `skipLocked`, sagas another transaction holds
    /// are left out instead of waited for.
    func lock(_ ids: [UUID], skipLocked: Bool = false, on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Stored] {
        guard !ids.isEmpty else { return [:] }
        let sorted = Array(Set(ids)).sorted { $0.uuidString < $1.uuidString }
        let rows = try await connection.query(
            skipLocked
                ? "SELECT data::text, history_seq FROM orchestrator.sagas WHERE id = ANY(\(sorted)::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED"
                : "SELECT data::text, history_seq FROM orchestrator.sagas WHERE id = ANY(\(sorted)::uuid[]) ORDER BY id FOR UPDATE",
            logger: logger)
        var sagas: [UUID: Stored] = [:]
        for try await (json, count) in rows.decode((String, Int).self) {
            let saga = try MessageCoding.decoder.decode(OrderSaga.self, from: Data(json.utf8))
            sagas[saga.id] = Stored(saga: saga, historyCount: count)
        }
        return sagas
    }

    /// Writes back changed sagas (unless `updatingRows` is false: new sagas, inserted with
    /// their state), appends their history and moves their deadlines.
    func save(_ changes: [Change], updatingRows: Bool = true, on connection: PostgresConnection, logger: Logger) async throws {
        let updated = updatingRows ? changes.filter(\.stateChanged).map(\.saga) : []
        if !updated.isEmpty {
            let counts = changes.filter(\.stateChanged).map(\.historyCount)
            _ = try await connection.query(
                """
                UPDATE orchestrator.sagas s
                   SET state = u.state, step = u.step, reason = NULLIF(u.reason, ''), failure = NULLIF(u.failure, ''),
                       data = u.data::jsonb, history_seq = u.history_seq, version = s.version + 1, updated_at = now()
                  FROM unnest(\(updated.map(\.id))::uuid[], \(updated.map(\.state.rawValue))::text[], \(updated.map(\.step.name))::text[],
                              \(updated.map { $0.reason ?? "" })::text[], \(updated.map { $0.failure ?? "" })::text[],
                              \(updated.map { MessageCoding.encode($0) })::text[], \(counts)::integer[])
                       AS u(id, state, step, reason, failure, data, history_seq)
                 WHERE s.id = u.id
                """,
                logger: logger).collect()
        }
        let historyOnly = updatingRows ? changes.filter { !$0.stateChanged && !$0.newHistory.isEmpty } : []
        if !historyOnly.isEmpty {
            _ = try await connection.query(
                """
                UPDATE orchestrator.sagas s SET history_seq = u.history_seq
                  FROM unnest(\(historyOnly.map(\.saga.id))::uuid[], \(historyOnly.map(\.historyCount))::integer[]) AS u(id, history_seq)
                 WHERE s.id = u.id
                """,
                logger: logger).collect()
        }
        try await appendHistory(changes, on: connection, logger: logger)
        try await moveDeadlines(changes, newSagas: !updatingRows, on: connection, logger: logger)
    }

    private func appendHistory(_ changes: [Change], on connection: PostgresConnection, logger: Logger) async throws {
        var sagaIDs: [UUID] = [], seqs: [Int] = [], kinds: [String] = [], messages: [String] = []
        var messageIDs: [String] = [], details: [String] = []
        for change in changes {
            let first = change.historyCount - change.newHistory.count
            for (offset, entry) in change.newHistory.enumerated() {
                sagaIDs.append(change.saga.id)
                seqs.append(first + offset + 1)
                kinds.append(entry.kind)
                messages.append(entry.message)
                messageIDs.append(entry.messageID?.uuidString ?? "")
                details.append(entry.detail.isEmpty ? "{}" : MessageCoding.encode(entry.detail))
            }
        }
        guard !sagaIDs.isEmpty else { return }
        _ = try await connection.query(
            """
            INSERT INTO orchestrator.saga_history (saga_id, seq, kind, message, message_id, detail)
            SELECT h.saga_id, h.seq, h.kind, h.message, NULLIF(h.message_id, '')::uuid, h.detail::jsonb
              FROM unnest(\(sagaIDs)::uuid[], \(seqs)::integer[], \(kinds)::text[], \(messages)::text[],
                          \(messageIDs)::text[], \(details)::text[]) AS h(saga_id, seq, kind, message, message_id, detail)
            """,
            logger: logger).collect()
    }

    /// Sets and clears deadlines. New sagas have none yet, so theirs are plain inserts (the
    /// HTTP process, which starts sagas, may insert deadlines but not change them).
    private func moveDeadlines(_ changes: [Change], newSagas: Bool, on connection: PostgresConnection, logger: Logger) async throws {
        var setIDs: [UUID] = [], delays: [Int64] = [], tokens: [Int] = [], clearIDs: [UUID] = []
        for change in changes {
            switch change.deadline {
            case .keep: continue
            case .set(let delay, let token):
                setIDs.append(change.saga.id)
                delays.append(delay.milliseconds)
                tokens.append(token)
            case .clear:
                clearIDs.append(change.saga.id)
            }
        }
        if !setIDs.isEmpty, newSagas {
            _ = try await connection.query(
                """
                INSERT INTO orchestrator.deadlines (saga_id, due_at, token)
                SELECT id, now() + delay_ms * interval '1 millisecond', token
                  FROM unnest(\(setIDs)::uuid[], \(delays)::bigint[], \(tokens)::integer[]) AS d(id, delay_ms, token)
                """,
                logger: logger).collect()
        } else if !setIDs.isEmpty {
            _ = try await connection.query(
                """
                INSERT INTO orchestrator.deadlines (saga_id, due_at, token)
                SELECT id, now() + delay_ms * interval '1 millisecond', token
                  FROM unnest(\(setIDs)::uuid[], \(delays)::bigint[], \(tokens)::integer[]) AS d(id, delay_ms, token)
                ON CONFLICT (saga_id) DO UPDATE SET due_at = excluded.due_at, token = excluded.token
                """,
                logger: logger).collect()
        }
        if !clearIDs.isEmpty {
            _ = try await connection.query(
                "DELETE FROM orchestrator.deadlines WHERE saga_id = ANY(\(clearIDs)::uuid[])", logger: logger).collect()
        }
    }

    /// Sagas whose deadline has passed, oldest first, locked (skipping sagas another
    /// transaction holds), with the token each deadline was set with.
    func lockDue(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [(Stored, token: Int)] {
        let candidates = try await connection.query(
            "SELECT saga_id FROM orchestrator.deadlines WHERE due_at <= now() ORDER BY due_at LIMIT \(limit)",
            logger: logger)
        var ids: [UUID] = []
        for try await id in candidates.decode(UUID.self) { ids.append(id) }
        let locked = try await lock(ids, skipLocked: true, on: connection, logger: logger)
        guard !locked.isEmpty else { return [] }
        // Read again now that the sagas are ours: a transition committed in between moved it.
        let due = try await connection.query(
            """
            SELECT saga_id, token FROM orchestrator.deadlines
             WHERE saga_id = ANY(\(Array(locked.keys))::uuid[]) AND due_at <= now()
            """,
            logger: logger)
        var result: [(Stored, token: Int)] = []
        for try await (id, token) in due.decode((UUID, Int).self) {
            if let stored = locked[id] { result.append((stored, token)) }
        }
        return result
    }
}
