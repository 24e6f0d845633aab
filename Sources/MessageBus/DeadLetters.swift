import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// Operator access to the dead letters: list, inspect, send back to their queue, or discard.
public struct DeadLetters: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    public struct Entry: Sendable, Codable, Equatable {
        public var id: UUID
        public var queue: String
        public var type: String
        public var sagaId: UUID
        public var causationId: UUID?
        public var attempts: Int
        public var error: String
        public var createdAt: Date
        public var deadAt: Date
        /// The message body; included by ``entry(_:logger:)``, not by ``list(limit:logger:)``.
        public var payload: String?
    }

    /// The newest dead letters first.
    public func list(limit: Int = 100, logger: Logger) async throws -> [Entry] {
        try await fetch(
            """
            SELECT id, queue, type, saga_id, causation_id, attempts, error, created_at, dead_at, NULL::text
              FROM bus.dead_letters ORDER BY dead_at DESC, id LIMIT \(limit)
            """, logger: logger)
    }

    /// One dead letter with its payload.
    public func entry(_ id: UUID, logger: Logger) async throws -> Entry? {
        try await fetch(
            """
            SELECT id, queue, type, saga_id, causation_id, attempts, error, created_at, dead_at, payload
              FROM bus.dead_letters WHERE id = \(id)
            """, logger: logger).first
    }

    /// Puts dead letters back on their queues as new deliveries (attempts start again), in one
    /// transaction that also wakes the consumers. `ids` nil means all. Returns how many moved.
    /// A dead letter was never recorded as processed (its handler's transaction rolled back),
    /// so its consumer handles it like any new message. One whose id is queued already (a copy
    /// of the same message) stays a dead letter, for a later retry.
    @discardableResult
    public func retry(_ ids: [UUID]?, logger: Logger) async throws -> Int {
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH moved AS (
                    INSERT INTO bus.messages (id, queue, type, saga_id, causation_id, payload, headers, created_at, visible_at, attempts, last_error)
                    SELECT id, queue, type, saga_id, causation_id, payload, headers, created_at, now(), 0, error
                      FROM bus.dead_letters WHERE \(ids == nil) OR id = ANY(\(ids ?? [])::uuid[])
                       FOR UPDATE
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id, queue),
                gone AS (
                    DELETE FROM bus.dead_letters d USING moved WHERE d.id = moved.id)
                SELECT queue FROM moved
                """, logger: logger)
            var queues = Set<String>()
            var moved = 0
            for try await queue in rows.decode(String.self) {
                queues.insert(queue)
                moved += 1
            }
            try await MessagePublisher.notify(queues, on: connection, logger: logger)
            return moved
        }
    }

    /// Deletes a dead letter for good; false when there was none with this id.
    public func discard(_ id: UUID, logger: Logger) async throws -> Bool {
        // In a transaction, so that a discard is reported only once it has committed.
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("DELETE FROM bus.dead_letters WHERE id = \(id) RETURNING id", logger: logger).collect()
            return !rows.isEmpty
        }
    }

    private func fetch(_ query: PostgresQuery, logger: Logger) async throws -> [Entry] {
        var entries: [Entry] = []
        let rows = try await client.query(query, logger: logger)
        for try await (id, queue, type, saga, causation, attempts, error, created, dead, payload)
            in rows.decode((UUID, String, String, UUID, UUID?, Int, String, Date, Date, String?).self)
        {
            entries.append(Entry(id: id, queue: queue, type: type, sagaId: saga, causationId: causation, attempts: attempts,
                                 error: error, createdAt: created, deadAt: dead, payload: payload))
        }
        return entries
    }
}
