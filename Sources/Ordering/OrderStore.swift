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

    /// Stores new orders in one statement. Returns, in input order, the stored order, or nil
    /// where an order with the same idempotency key exists already (then ``existing(_:on:logger:)``
    /// tells a replay from a reused key). Concurrent inserts of one key serialise on its unique
    /// index; two requests with one key in the same batch store one order.
    public func placeBatch(_ news: [NewOrder], on connection: PostgresConnection, logger: Logger) async throws -> [Order?] {
        guard !news.isEmpty else { return [] }
        let orderIDs = news.map { _ in UUID.timeOrdered() }
        let sagaIDs = news.map { _ in UUID.timeOrdered() }
        let bindings = PostgresBindings(
            orderIDs, sagaIDs, news.map(\.customerID), news.map(\.eventID), news.map { MessageCoding.encode($0.lines) },
            news.map(\.totalCents), news.map(\.currency), news.map { $0.idempotencyKey ?? "" }, news.map(\.request))
        let rows = try await connection.execute(Prepared<Place, (UUID, Date)>(bindings) { try $0.decode((UUID, Date).self) }, logger: logger)
        var created: [UUID: Date] = [:]
        for try await (id, at) in rows { created[id] = at }
        return news.indices.map { index in
            guard let at = created[orderIDs[index]] else { return nil }
            let new = news[index]
            return Order(
                orderId: orderIDs[index], sagaId: sagaIDs[index], customerId: new.customerID, eventId: new.eventID,
                status: .pending, reason: nil, totalCents: new.totalCents, currency: new.currency, lines: new.lines,
                createdAt: at, updatedAt: at)
        }
    }

    /// The order placed before under `new`'s idempotency key: a replay if the request is the
    /// same, `keyReused` if not.
    public func existing(_ new: NewOrder, on connection: PostgresConnection, logger: Logger) async throws -> Placement {
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
                lines: try MessageCoding.decode([Order.Line].self, from: lines),
                createdAt: created, updatedAt: updated)
        }
        return nil
    }

    /// A saga's outcome for its order.
    public struct Outcome: Sendable {
        public var orderID: UUID
        public var status: Order.Status
        public var reason: String?
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
        static let sql = """
            UPDATE ordering.orders o SET status = u.status, reason = NULLIF(u.reason, ''), updated_at = now()
              FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, status, reason)
             WHERE o.id = u.id AND o.status = 'pending'
            """
    }

    enum Place: PreparedSQL {
        static let sql = """
            INSERT INTO ordering.orders (id, saga_id, customer_id, event_id, lines, total_cents, currency, status, idempotency_key, request)
            SELECT o.id, o.saga_id, o.customer_id, o.event_id, o.lines::jsonb, o.total_cents, o.currency, 'pending',
                   NULLIF(o.idempotency_key, ''), o.request::jsonb
              FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[])
                   AS o(id, saga_id, customer_id, event_id, lines, total_cents, currency, idempotency_key, request)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, created_at
            """
    }
}

struct PermanentOrderError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
