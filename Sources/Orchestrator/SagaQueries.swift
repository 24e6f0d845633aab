import Database
import EvenTicketContracts
import Foundation
import Logging
import OrderSaga
import PostgresNIO

/// Read side of the saga store, for the HTTP API and the CLI.
public struct SagaQueries: Sendable {
    let client: PostgresClient
    /// How long ``saga(_:logger:)`` and ``list(state:limit:after:logger:)`` wait for a pooled
    /// connection before they fail with `ConnectionWaitTimedOut` (nil: as long as the pool waits).
    let connectionWait: Duration?

    public init(client: PostgresClient, connectionWait: Duration? = nil) {
        self.client = client
        self.connectionWait = connectionWait
    }

    public struct HistoryItem: Sendable, Codable, Equatable {
        public var at: Date
        public var kind: String
        public var message: String
        public var messageId: UUID?
        public var detail: [String: String]
    }

    public struct SagaView: Sendable, Codable, Equatable {
        public var sagaId: UUID
        public var type: String
        public var orderId: UUID
        public var state: String
        public var step: String
        public var reason: String?
        /// Set while the saga is failed: which compensation went unanswered.
        public var failure: String?
        public var createdAt: Date
        public var updatedAt: Date
        public var history: [HistoryItem]?
    }

    /// One saga with its full history, or nil.
    public func saga(_ id: UUID, logger: Logger) async throws -> SagaView? {
        try await client.withConnection(waitingAtMost: connectionWait, watchedBy: .requests(logger: logger), "reading saga \(id)") { connection in
            let rows = try await connection.query(
                """
                SELECT id, type, order_id, state, step, reason, failure, created_at, updated_at
                  FROM orchestrator.sagas WHERE id = \(id)
                """, logger: logger)
            var found: SagaView?
            for try await (id, type, order, state, step, reason, failure, created, updated)
                in rows.decode((UUID, String, UUID, String, String, String?, String?, Date, Date).self)
            {
                found = SagaView(sagaId: id, type: type, orderId: order, state: state, step: step, reason: reason, failure: failure,
                                 createdAt: created, updatedAt: updated, history: [])
            }
            guard var saga = found else { return nil }
            // Each transition's entries, in order: the rows by seq, the entries of a row in array order.
            let history = try await connection.query(
                """
                SELECT t.at, e.entry ->> 'kind', e.entry ->> 'message', (e.entry ->> 'messageId')::uuid,
                       coalesce(e.entry -> 'detail', '{}')::text
                  FROM orchestrator.saga_transitions t, json_array_elements(t.entries) WITH ORDINALITY AS e(entry, n)
                 WHERE t.saga_id = \(id)
                 ORDER BY t.seq, e.n
                """, logger: logger)
            for try await (at, kind, message, messageID, detail) in history.decode((Date, String, String, UUID?, String).self) {
                let values = (try? MessageCoding.decode([String: String].self, from: detail)) ?? [:]
                saga.history?.append(HistoryItem(at: at, kind: kind, message: message, messageId: messageID, detail: values))
            }
            return saga
        }
    }

    /// A page of sagas, newest first, optionally in one state. `after` is the last saga of the previous page.
    /// Saga ids are time-ordered (UUIDv7, made when the order is placed), so newest first is
    /// descending id order, which the primary key and `(state, id)` index serve.
    public func list(state: SagaState?, limit: Int, after cursor: UUID?, logger: Logger) async throws -> [SagaView] {
        var bindings = PostgresBindings()
        if let state { bindings.append(state.rawValue) }
        if let cursor { bindings.append(cursor) }
        bindings.append(limit)
        let query = PostgresQuery(unsafeSQL: Self.listSQL(byState: state != nil, after: cursor != nil), binds: bindings)
        return try await client.withConnection(waitingAtMost: connectionWait, watchedBy: .requests(logger: logger), "listing sagas") { connection in
            let rows = try await connection.query(query, logger: logger)
            var sagas: [SagaView] = []
            for try await (id, type, order, state, step, reason, failure, created, updated)
                in rows.decode((UUID, String, UUID, String, String, String?, String?, Date, Date).self)
            {
                sagas.append(SagaView(sagaId: id, type: type, orderId: order, state: state, step: step, reason: reason, failure: failure,
                                      createdAt: created, updatedAt: updated, history: nil))
            }
            return sagas
        }
    }

    /// The listing's statement for each filter, of constant texts: `s.state = $1` when `byState`,
    /// `s.id < $n` (the cursor) when `after`, the limit last. One text with `$1 IS NULL OR
    /// s.state = $1` in it could not use the `(state, id)` index in the generic plan the
    /// services' connections run (`plan_cache_mode = force_generic_plan`): it walked the
    /// primary key from the newest saga, reading the whole table for a state no saga is in.
    static func listSQL(byState: Bool, after: Bool) -> String {
        var conditions: [String] = []
        if byState { conditions.append("s.state = $\(conditions.count + 1)") }
        if after { conditions.append("s.id < $\(conditions.count + 1)::uuid") }
        return """
            SELECT s.id, s.type, s.order_id, s.state, s.step, s.reason, s.failure, s.created_at, s.updated_at
              FROM orchestrator.sagas s\(conditions.isEmpty ? "" : "\n WHERE " + conditions.joined(separator: " AND "))
             ORDER BY s.id DESC
             LIMIT $\(conditions.count + 1)
            """
    }
}
