import EvenTicketContracts
import Foundation
import PostgresNIO

/// Storing new orders: the first member of the statement that also starts their sagas and
/// publishes the sagas' first commands (the HTTP API's order intake composes it; see
/// `StatementPart`).
///
/// Each order gets a new order id and saga id here. Concurrent inserts of one idempotency key
/// serialise on its unique index, and two orders with one key in the same insert store one.
public struct OrderInsert: Sendable {
    /// Parameters `$1` to `$9`.
    public static let parameterCount = 9

    /// Inserts the orders, skipping those whose idempotency key exists already; returns `id`,
    /// `saga_id` and `created_at` of the orders it stored.
    public static let sql = """
        INSERT INTO ordering.orders (id, saga_id, customer_id, event_id, lines, total_cents, currency, status, idempotency_key, request)
        SELECT o.id, o.saga_id, o.customer_id, o.event_id, o.lines::jsonb, o.total_cents, o.currency, 'pending',
               NULLIF(o.idempotency_key, ''), o.request::jsonb
          FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[])
               AS o(id, saga_id, customer_id, event_id, lines, total_cents, currency, idempotency_key, request)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, saga_id, created_at
        """

    public let news: [OrderStore.NewOrder]
    /// The id each order gets, in input order.
    public let orderIDs: [UUID]
    /// The id of each order's saga, in input order.
    public let sagaIDs: [UUID]

    public init(_ news: [OrderStore.NewOrder]) {
        self.news = news
        self.orderIDs = news.map { _ in UUID.timeOrdered() }
        self.sagaIDs = news.map { _ in UUID.timeOrdered() }
    }

    /// Appends the values of `$1` to `$9`, in order.
    public func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(orderIDs)
        bindings.append(sagaIDs)
        bindings.append(news.map(\.customerID))
        bindings.append(news.map(\.eventID))
        bindings.append(news.map { MessageCoding.encode($0.lines) })
        bindings.append(news.map(\.totalCents))
        bindings.append(news.map(\.currency))
        bindings.append(news.map { $0.idempotencyKey ?? "" })
        bindings.append(news.map(\.request))
    }

    /// The orders in input order: as stored (`stored` maps the ids of the stored orders to
    /// their `created_at`), or nil where an order with the same idempotency key existed (then
    /// ``OrderStore/existing(_:on:logger:)`` tells a replay from a reused key).
    public func orders(stored: [UUID: Date]) -> [Order?] {
        news.indices.map { index in
            guard let at = stored[orderIDs[index]] else { return nil }
            let new = news[index]
            return Order(
                orderId: orderIDs[index], sagaId: sagaIDs[index], customerId: new.customerID, eventId: new.eventID,
                status: .pending, reason: nil, totalCents: new.totalCents, currency: new.currency, lines: new.lines,
                createdAt: at, updatedAt: at)
        }
    }
}
