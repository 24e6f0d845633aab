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
        /// A new order, stored with its saga.
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

    /// The order placed before under `new`'s idempotency key: a replay if the request is the
    /// same, `keyReused` if not.
    public func existing(_ new: NewOrder, on connection: PostgresConnection, logger: Logger) async throws -> Placement {
        let rows = try await connection.query(
            """
            SELECT id, request = \(new.request)::jsonb FROM ordering.orders WHERE idempotency_key = \(new.idempotencyKey)
            """, logger: logger)
        // Read to the end before the next query on this connection (see `lastElement`).
        if let (existingID, sameRequest) = try await rows.decode((UUID, Bool).self).lastElement() {
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
        // Read to the end before the next query on this connection (see `lastElement`).
        guard let (id, saga, customer, event, status, reason, total, currency, lines, created, updated)
            = try await rows.decode((UUID, UUID, String, UUID, String, String?, Int, String, String, Date, Date).self).lastElement()
        else { return nil }
        return Order(
            orderId: id, sagaId: saga, customerId: customer, eventId: event,
            status: Order.Status(rawValue: status) ?? .pending, reason: reason, totalCents: total, currency: currency,
            lines: try MessageCoding.decode([Order.Line].self, from: lines),
            createdAt: created, updatedAt: updated)
    }

    /// A saga's outcome for its order.
    public struct Outcome: Sendable, Equatable {
        public var orderID: UUID
        public var status: Order.Status
        public var reason: String?

        public init(orderID: UUID, status: Order.Status, reason: String?) {
            self.orderID = orderID
            self.status = status
            self.reason = reason
        }
    }

    /// Records sagas' outcomes (one per order); only a pending order changes.
    func settle(_ outcomes: [Outcome], on connection: PostgresConnection, logger: Logger) async throws {
        guard !outcomes.isEmpty else { return }
        try await connection.run(
            Settle.self,
            PostgresBindings(outcomes.map(\.orderID), outcomes.map(\.status.rawValue), outcomes.map { $0.reason ?? "" }),
            logger: logger)
    }

    enum Settle: PreparedSQL {
        static let sql = OrderSettlement.update(from: "unnest($1::uuid[], $2::text[], $3::text[])")
    }
}

/// Recording sagas' outcomes on their orders: the `UPDATE` that the statement storing the
/// sagas' transitions runs as one of its members (the orchestrator composes it; see
/// `StatementPart`), so an order's status changes in the transaction that ends its saga.
public enum OrderSettlement {
    /// Settles the orders of `rows`, a relation of three columns: the order id, its new status
    /// (`confirmed` or `rejected`; a row with an empty status is skipped) and the reason (empty
    /// for none). Only a pending order changes, so the first outcome recorded for an order is
    /// the one that stays. `updated_at` is the moment of the write (`clock_timestamp()`, not the
    /// transaction's start): the last statement before the commit that makes the outcome visible.
    public static func update(from rows: String) -> String {
        """
        UPDATE ordering.orders o SET status = r.status, reason = NULLIF(r.reason, ''), updated_at = clock_timestamp()
          FROM \(rows) AS r(id, status, reason)
         WHERE o.id = r.id AND r.status <> '' AND o.status = 'pending'
        """
    }
}

struct PermanentOrderError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
