import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// The ordering service's tables.
public struct OrderStore: Sendable {
    public init() {}

    /// What placing an order came to.
    public enum Placement: Sendable {
        /// A new order; start its saga in the same transaction.
        case created(Order)
        /// The same idempotency key and the same request: the order placed before.
        case replayed(Order)
        /// The same idempotency key with a different request.
        case keyReused
    }

    /// A new order, before it is stored.
    public struct NewOrder: Sendable {
        public var customerID: String
        public var eventID: UUID
        public var lines: [Order.Line]
        public var totalCents: Int
        public var currency: String
        /// The canonical request body, compared on an idempotent replay.
        public var request: String
        public var idempotencyKey: String?

        public init(customerID: String, eventID: UUID, lines: [Order.Line], totalCents: Int, currency: String, request: String, idempotencyKey: String?) {
            self.customerID = customerID
            self.eventID = eventID
            self.lines = lines
            self.totalCents = totalCents
            self.currency = currency
            self.request = request
            self.idempotencyKey = idempotencyKey
        }
    }

    /// Stores a new order, or finds the one placed before under the same idempotency key.
    /// Two concurrent requests with one key serialise on the key's unique index.
    public func place(_ new: NewOrder, on connection: PostgresConnection, logger: Logger) async throws -> Placement {
        let orderID = UUID()
        let sagaID = UUID()
        let inserted = try await connection.query(
            """
            INSERT INTO ordering.orders (id, saga_id, customer_id, event_id, lines, total_cents, currency, status, idempotency_key, request)
            VALUES (\(orderID), \(sagaID), \(new.customerID), \(new.eventID), \(MessageCoding.encode(new.lines))::jsonb,
                    \(new.totalCents), \(new.currency), 'pending', \(new.idempotencyKey), \(new.request)::jsonb)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """, logger: logger).collect()
        if !inserted.isEmpty, let order = try await find(orderID, on: connection, logger: logger) {
            return .created(order)
        }
        let rows = try await connection.query(
            """
            SELECT id, request = \(new.request)::jsonb FROM ordering.orders WHERE idempotency_key = \(new.idempotencyKey)
            """, logger: logger)
        for try await (existingID, sameRequest) in rows.decode((UUID, Bool).self) {
            guard sameRequest else { return .keyReused }
            if let order = try await find(existingID, on: connection, logger: logger) { return .replayed(order) }
        }
        throw PermanentOrderError("order with idempotency key vanished")
    }

    /// One order, or nil.
    public func find(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Order? {
        let rows = try await connection.query(
            """
            SELECT id, saga_id, customer_id, event_id, status, reason, total_cents, currency, lines::text, created_at, updated_at
              FROM ordering.orders WHERE id = \(id)
            """, logger: logger)
        for try await (id, saga, customer, event, status, reason, total, currency, lines, created, updated)
            in rows.decode((UUID, UUID, String, UUID, String, String?, Int, String, String, Date, Date).self)
        {
            return Order(
                orderId: id, sagaId: saga, customerId: customer, eventId: event,
                status: Order.Status(rawValue: status) ?? .pending, reason: reason, totalCents: total, currency: currency,
                lines: try MessageCoding.decoder.decode([Order.Line].self, from: Data(lines.utf8)),
                createdAt: created, updatedAt: updated)
        }
        return nil
    }

    /// Records the saga's outcome; only a pending order changes.
    func settle(_ orderID: UUID, status: Order.Status, reason: String?, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query(
            """
            UPDATE ordering.orders SET status = \(status.rawValue), reason = \(reason), updated_at = now()
             WHERE id = \(orderID) AND status = 'pending'
            """, logger: logger).collect()
    }
}

struct PermanentOrderError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
