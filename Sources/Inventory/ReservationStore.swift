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

    enum LockReservations: PreparedSQL {
        static let sql = """
            SELECT saga_id, order_id, status, lines::text, quantity FROM inventory.reservations
             WHERE saga_id = ANY($1::uuid[]) ORDER BY saga_id FOR UPDATE
            """
    }

    enum LockTicketTypes: PreparedSQL {
        static let sql = "SELECT id, event_id, available FROM inventory.ticket_types WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    }

    enum UpdateAvailable: PreparedSQL {
        static let sql = """
            UPDATE inventory.ticket_types t SET available = u.available
              FROM unnest($1::uuid[], $2::integer[]) AS u(id, available)
             WHERE t.id = u.id
            """
    }

    enum InsertReservations: PreparedSQL {
        static let sql = """
            INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
            SELECT r.saga_id, r.order_id, r.status, r.lines::jsonb, r.quantity
              FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::integer[]) AS r(saga_id, order_id, status, lines, quantity)
            """
    }

    enum Release: PreparedSQL {
        static let sql = "UPDATE inventory.reservations SET status = 'released', updated_at = now() WHERE saga_id = ANY($1::uuid[])"
    }

    /// The sagas' reservations, locked until the transaction ends.
    func lockReservations(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Reservation] {
        let rows = try await connection.execute(
            Prepared<LockReservations, (UUID, UUID, String, String, Int)>(PostgresBindings(sagaIDs)) {
                var columns = RowReader($0)
                return (try columns.next(UUID.self), try columns.next(UUID.self), try columns.next(String.self), try columns.next(String.self),
                        try columns.next(Int.self))
            },
            logger: logger)
        var reservations: [UUID: Reservation] = [:]
        for try await (saga, order, status, lines, quantity) in rows {
            let decoded = try MessageCoding.decode([OrderLine].self, from: lines)
            reservations[saga] = Reservation(sagaID: saga, orderID: order, status: status, lines: decoded, quantity: quantity)
        }
        return reservations
    }

    /// Ticket types' counts, locked in id order until the transaction ends.
    func lockTicketTypes(_ ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Stock] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await connection.execute(
            Prepared<LockTicketTypes, (UUID, UUID, Int)>(PostgresBindings(ids)) { try $0.decode((UUID, UUID, Int).self) },
            logger: logger)
        var stock: [UUID: Stock] = [:]
        for try await (id, event, available) in rows {
            stock[id] = Stock(eventID: event, available: available)
        }
        return stock
    }

    func apply(_ writes: Writes, on connection: PostgresConnection, logger: Logger) async throws {
        if !writes.available.isEmpty {
            let ids = Array(writes.available.keys)
            try await connection.run(UpdateAvailable.self, PostgresBindings(ids, ids.map { writes.available[$0]! }), logger: logger)
        }
        if !writes.newReservations.isEmpty {
            let new = writes.newReservations
            try await connection.run(
                InsertReservations.self,
                PostgresBindings(new.map(\.sagaID), new.map(\.orderID), new.map(\.status), new.map { MessageCoding.encode($0.lines) },
                                 new.map(\.quantity)),
                logger: logger)
        }
        if !writes.released.isEmpty {
            try await connection.run(Release.self, PostgresBindings(writes.released), logger: logger)
        }
    }
}
