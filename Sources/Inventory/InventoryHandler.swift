import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Inventory's consumer: holds and releases tickets, one reservation per saga.
///
/// Rows of the requested ticket types are locked in id order before availability is checked,
/// so concurrent reservations never oversell and never deadlock each other. A release that
/// arrives before its reservation leaves a `released` marker, so the late reservation is
/// refused instead of holding tickets for an order that is already rejected.
public struct InventoryHandler: MessageHandler {
    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        switch envelope.typeName {
        case ReserveTickets.typeName:
            let command = try envelope.decode(ReserveTickets.self)
            return [try await reserve(command, sagaID: envelope.sagaID, causation: envelope.messageID, on: connection, logger: logger)]
        case ReleaseTickets.typeName:
            let command = try envelope.decode(ReleaseTickets.self)
            return [try await release(command, sagaID: envelope.sagaID, causation: envelope.messageID, on: connection, logger: logger)]
        default:
            throw PermanentFailure.unknownType(envelope, queue: .inventory)
        }
    }

    private func existing(_ sagaID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> (status: String, lines: [OrderLine], quantity: Int)? {
        let rows = try await connection.query(
            "SELECT status, lines::text, quantity FROM inventory.reservations WHERE saga_id = \(sagaID) FOR UPDATE",
            logger: logger)
        for try await (status, lines, quantity) in rows.decode((String, String, Int).self) {
            return (status, try MessageCoding.decoder.decode([OrderLine].self, from: Data(lines.utf8)), quantity)
        }
        return nil
    }

    func reserve(_ command: ReserveTickets, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OutgoingMessage {
        func reply<M: Message>(_ event: M) -> OutgoingMessage { OutgoingMessage(event, sagaID: sagaID, causationID: causation) }
        if let reservation = try await existing(sagaID, on: connection, logger: logger) {
            switch reservation.status {
            case "held": return reply(TicketsReserved(orderID: command.orderID, quantity: reservation.quantity))
            case "released": return reply(TicketsUnavailable(orderID: command.orderID, reason: "reservation_cancelled"))
            default: return reply(TicketsUnavailable(orderID: command.orderID, reason: "tickets_unavailable"))
            }
        }
        let wanted = Dictionary(command.lines.map { ($0.ticketTypeID, $0.quantity) }, uniquingKeysWith: +)
        let ids = wanted.keys.sorted { $0.uuidString < $1.uuidString }
        let quantities = ids.map { wanted[$0]! }
        let rows = try await connection.query(
            """
            SELECT id, available FROM inventory.ticket_types
             WHERE id = ANY(\(ids)::uuid[]) AND event_id = \(command.eventID)
             ORDER BY id FOR UPDATE
            """, logger: logger)
        var available: [UUID: Int] = [:]
        for try await (id, count) in rows.decode((UUID, Int).self) { available[id] = count }
        let enough = ids.allSatisfy { (available[$0] ?? 0) >= wanted[$0]! }
        let total = quantities.reduce(0, +)
        if enough {
            _ = try await connection.query(
                """
                UPDATE inventory.ticket_types t SET available = t.available - r.quantity
                  FROM unnest(\(ids)::uuid[], \(quantities)::integer[]) AS r(id, quantity)
                 WHERE t.id = r.id
                """, logger: logger).collect()
        }
        _ = try await connection.query(
            """
            INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
            VALUES (\(sagaID), \(command.orderID), \(enough ? "held" : "rejected"), \(MessageCoding.encode(command.lines))::jsonb, \(enough ? total : 0))
            """, logger: logger).collect()
        if enough {
            logger.debug("tickets held", metadata: ["order.id": "\(command.orderID)", "quantity": "\(total)"])
            return reply(TicketsReserved(orderID: command.orderID, quantity: total))
        }
        return reply(TicketsUnavailable(orderID: command.orderID, reason: "tickets_unavailable"))
    }

    func release(_ command: ReleaseTickets, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OutgoingMessage {
        func reply(_ quantity: Int) -> OutgoingMessage {
            OutgoingMessage(TicketsReleased(orderID: command.orderID, quantity: quantity), sagaID: sagaID, causationID: causation)
        }
        guard let reservation = try await existing(sagaID, on: connection, logger: logger) else {
            // Nothing held yet: leave a marker so a late ReserveTickets is refused. A reservation
            // committed meanwhile makes this insert fail, and the retry then releases it.
            _ = try await connection.query(
                """
                INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
                VALUES (\(sagaID), \(command.orderID), 'released', '[]', 0)
                """, logger: logger).collect()
            return reply(0)
        }
        guard reservation.status == "held" else { return reply(0) }
        let wanted = Dictionary(reservation.lines.map { ($0.ticketTypeID, $0.quantity) }, uniquingKeysWith: +)
        let ids = wanted.keys.sorted { $0.uuidString < $1.uuidString }
        _ = try await connection.query(
            """
            UPDATE inventory.ticket_types t SET available = t.available + r.quantity
              FROM (SELECT * FROM unnest(\(ids)::uuid[], \(ids.map { wanted[$0]! })::integer[]) AS r(id, quantity)) r
             WHERE t.id = r.id
            """, logger: logger).collect()
        _ = try await connection.query(
            "UPDATE inventory.reservations SET status = 'released', updated_at = now() WHERE saga_id = \(sagaID)",
            logger: logger).collect()
        return reply(reservation.quantity)
    }
}
