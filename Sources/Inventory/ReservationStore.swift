import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
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

    /// What a round of messages writes: new counts, new reservations and released ones (never
    /// the same saga as a new one: a round has one message per saga), in one statement, alone or
    /// with the round's replies (``FinalWrites``).
    struct Writes: FinalWrites {
        var newReservations: [Reservation] = []
        var released: [UUID] = []
        /// New `available` counts of the ticket types that changed.
        var available: [UUID: Int] = [:]

        static let parameterCount = 8
        static let ctes = """
            counts_updated AS (
                UPDATE inventory.ticket_types t SET available = u.available
                  FROM unnest($1::uuid[], $2::integer[]) AS u(id, available)
                 WHERE t.id = u.id),
            reservations_added AS (
                INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
                SELECT r.saga_id, r.order_id, r.status, r.lines::jsonb, r.quantity
                  FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::integer[])
                       AS r(saga_id, order_id, status, lines, quantity)),
            reservations_released AS (
                UPDATE inventory.reservations SET status = 'released', updated_at = now() WHERE saga_id = ANY($8::uuid[]))
            """

        func appendBindings(to bindings: inout PostgresBindings) {
            let changed = Array(available)
            bindings.append(changed.map(\.key))
            bindings.append(changed.map(\.value))
            bindings.append(newReservations.map(\.sagaID))
            bindings.append(newReservations.map(\.orderID))
            bindings.append(newReservations.map(\.status))
            bindings.append(newReservations.map { MessageCoding.encode($0.lines) })
            bindings.append(newReservations.map(\.quantity))
            bindings.append(released)
        }
    }

    static let reservationColumns = "saga_id, order_id, status, lines::text, quantity"

    enum LockReservations: PreparedSQL {
        static let sql = """
            SELECT \(reservationColumns) FROM inventory.reservations WHERE saga_id = ANY($1::uuid[]) ORDER BY saga_id FOR UPDATE
            """
    }

    /// A reservation as stored: its lines still JSON text.
    struct StoredReservation: Sendable {
        var sagaID: UUID
        var orderID: UUID
        var status: String
        var lines: String
        var quantity: Int

        func decoded() throws -> Reservation {
            Reservation(sagaID: sagaID, orderID: orderID, status: status, lines: try MessageCoding.decode([OrderLine].self, from: lines),
                        quantity: quantity)
        }
    }

    /// A reservation's columns after its saga id, in ``reservationColumns``' order.
    static func reservation(sagaID: UUID, _ columns: inout RowReader) throws -> StoredReservation {
        StoredReservation(sagaID: sagaID, orderID: try columns.next(UUID.self), status: try columns.next(String.self),
                          lines: try columns.next(String.self), quantity: try columns.next(Int.self))
    }

    enum LockTicketTypes: PreparedSQL {
        static let sql = "SELECT id, event_id, available FROM inventory.ticket_types WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    }

    /// The sagas' reservations, locked until the transaction ends.
    func lockReservations(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Reservation] {
        let rows = try await connection.execute(
            Prepared<LockReservations, StoredReservation>(PostgresBindings(sagaIDs)) {
                var columns = RowReader($0)
                return try Self.reservation(sagaID: try columns.next(UUID.self), &columns)
            },
            logger: logger)
        var reservations: [UUID: Reservation] = [:]
        for try await reservation in rows { reservations[reservation.sagaID] = try reservation.decoded() }
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
}

/// The reservations of a batch's sagas, locked (in saga order) by the inventory consumer's
/// claim, as ``ReservationStore/lockReservations(_:on:logger:)`` would after it.
public enum ClaimedReservations: ClaimedSagaRows {
    /// Its lines stay JSON text until the handler reads them: a row that does not decode fails
    /// the batch (and then its message alone), not the claim, which would take it again and again.
    public struct Row: Sendable {
        let reservation: ReservationStore.StoredReservation
    }

    public static let table = "inventory.reservations"
    public static let sagaKey = "saga_id"
    public static let columns = ReservationStore.reservationColumns

    public static func decode(sagaID: UUID, _ columns: inout RowReader) throws -> Row {
        Row(reservation: try ReservationStore.reservation(sagaID: sagaID, &columns))
    }
}
