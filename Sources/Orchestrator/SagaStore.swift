import Database
import EvenTicketContracts
import Foundation
import Logging
import OrderSaga
import PostgresNIO

/// The orchestrator's own tables: one row per saga and its history.
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

    /// Stores a new saga; false if one with this id exists already.
    func insert(_ saga: OrderSaga, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO orchestrator.sagas (id, order_id, state, step, reason, failure, data)
            VALUES (\(saga.id), \(saga.order.orderID), \(saga.state.rawValue), \(saga.step.name), \(saga.reason), \(saga.failure), \(MessageCoding.encode(saga))::jsonb)
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Loads a saga and locks its row until the transaction ends.
    func lock(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OrderSaga? {
        let rows = try await connection.query(
            "SELECT data::text FROM orchestrator.sagas WHERE id = \(id) FOR UPDATE", logger: logger)
        for try await json in rows.decode(String.self) {
            return try MessageCoding.decoder.decode(OrderSaga.self, from: Data(json.utf8))
        }
        return nil
    }

    func update(_ saga: OrderSaga, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query(
            """
            UPDATE orchestrator.sagas
               SET state = \(saga.state.rawValue), step = \(saga.step.name), reason = \(saga.reason), failure = \(saga.failure),
                   data = \(MessageCoding.encode(saga))::jsonb, version = version + 1, updated_at = now()
             WHERE id = \(saga.id)
            """,
            logger: logger
        ).collect()
    }

    func appendHistory(_ entries: [HistoryEntry], sagaID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        guard !entries.isEmpty else { return }
        let kinds = entries.map(\.kind)
        let messages = entries.map(\.message)
        let ids = entries.map { $0.messageID?.uuidString ?? "" }
        let details = entries.map { MessageCoding.encode($0.detail) }
        _ = try await connection.query(
            """
            INSERT INTO orchestrator.saga_history (saga_id, seq, kind, message, message_id, detail)
            SELECT \(sagaID),
                   (SELECT coalesce(max(seq), 0) FROM orchestrator.saga_history WHERE saga_id = \(sagaID)) + e.n,
                   e.kind, e.message, NULLIF(e.message_id, '')::uuid, e.detail::jsonb
              FROM unnest(\(kinds)::text[], \(messages)::text[], \(ids)::text[], \(details)::text[])
                   WITH ORDINALITY AS e(kind, message, message_id, detail, n)
            """,
            logger: logger
        ).collect()
    }
}
