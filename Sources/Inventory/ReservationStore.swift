import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// Inventory's reservations and ticket counts. Set-based: each method is one statement for
/// any number of sagas.
struct ReservationStore: Sendable {
    struct Reservation: Sendable {
        var sagaID: UUID
        var orderID: UUID
        /// held, released or rejected.
        var status: String
        var lines: [OrderLine]
        var quantity: Int
    }

    /// A ticket type's count, as locked.
    struct Stock: Sendable, Equatable {
        var eventID: UUID
        var available: Int
    }

    /// What a round of messages writes.
    struct Writes: Sendable {
        var newReservations: [Reservation] = []
        var released: [UUID] = []
        /// New `available` counts of the ticket types that changed.
        var available: [UUID: Int] = [:]
    }

    /// The sagas' reservations, locked until the transaction ends.
    func lockReservations(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Reservation] {
        let rows = try await connection.query(
            """
            SELECT saga_id, order_id, status, lines::text, quantity FROM inventory.reservations
             WHERE saga_id = ANY(\(sagaIDs)::uuid[]) ORDER BY saga_id FOR UPDATE
            """,
            logger: logger)
        var reservations: [UUID: Reservation] = [:]
        for try await (saga, order, status, lines, quantity) in rows.decode((UUID, UUID, String, String, Int).self) {
            let decoded = try MessageCoding.decoder.decode([OrderLine].self, from: Data(lines.utf8))
            reservations[saga] = Reservation(sagaID: saga, orderID: order, status: status, lines: decoded, quantity: quantity)
        }
        return reservations
    }

    /// Ticket types' counts, locked in id order until the transaction ends.
    func lockTicketTypes(_ ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Stock] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await connection.query(
            "SELECT id, event_id, available FROM inventory.ticket_types WHERE id = ANY(\(ids)::uuid[]) ORDER BY id FOR UPDATE",
            logger: logger)
        var stock: [UUID: Stock] = [:]
        for try await (id, event, available) in rows.decode((UUID, UUID, Int).self) {
            stock[id] = Stock(eventID: event, available: available)
        }
        return stock
    }

    func apply(_ writes: Writes, on connection: PostgresConnection, logger: Logger) async throws {
        if !writes.available.isEmpty {
            let ids = Array(writes.available.keys)
            _ = try await connection.query(
                """
                UPDATE inventory.ticket_types t SET available = u.available
                  FROM unnest(\(ids)::uuid[], \(ids.map { writes.available[$0]! })::integer[]) AS u(id, available)
                 WHERE t.id = u.id
                """,
                logger: logger).collect()
        }
        if !writes.newReservations.isEmpty {
            let new = writes.newReservations
            _ = try await connection.query(
                """
                INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
                SELECT r.saga_id, r.order_id, r.status, r.lines::jsonb, r.quantity
                  FROM unnest(\(new.map(\.sagaID))::uuid[], \(new.map(\.orderID))::uuid[], \(new.map(\.status))::text[],
                              \(new.map { MessageCoding.encode($0.lines) })::text[], \(new.map(\.quantity))::integer[])
                       AS r(saga_id, order_id, status, lines, quantity)
                """,
                logger: logger).collect()
        }
        if !writes.released.isEmpty {
            _ = try await connection.query(
                "UPDATE inventory.reservations SET status = 'released', updated_at = now() WHERE saga_id = ANY(\(writes.released)::uuid[])",
                logger: logger).collect()
        }
    }
}
