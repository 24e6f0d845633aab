import Database
import EvenTicketContracts
import Foundation
import HTTPTypes
import Hummingbird
import Inventory
import Logging
import MessageBus
import Orchestrator
import Ordering
import PostgresNIO

/// `POST /orders` and `GET /orders/{orderId}`.
///
/// Placing an order prices it from inventory's catalog, then hands it to the ``OrderIntake``,
/// which stores the order, creates its saga and publishes the saga's first command in one
/// transaction (shared with the orders placed at the same moment).
struct OrderRoutes {
    let client: PostgresClient
    let connectionWait: Duration
    let prices: PriceList
    let intake: OrderIntake
    let orders = OrderStore()
    let logger: Logger

    func register(on router: some RouterMethods<BasicRequestContext>) {
        router.post("/orders") { request, _ in try await place(request) }
        router.get("/orders/:orderId") { _, context in
            let id = try context.parameters.uuid("orderId", what: "order")
            let order = try await client.withConnection(waitingAtMost: connectionWait, watchedBy: .requests(logger: logger), "reading order \(id)") {
                try await orders.find(id, on: $0, logger: logger)
            }
            guard let order else { throw Problem.notFound("no order with id \(id)") }
            return JSONResponse.make(order)
        }
    }

    private struct Accepted: Encodable, JSONWritable {
        var orderId: UUID
        var sagaId: UUID
        var status: Order.Status

        func writeJSON(to json: inout JSONWriter) {
            json.object { json in
                json.member("orderId", orderId)
                json.member("sagaId", sagaId)
                json.member("status", status.rawValue)
            }
        }
    }

    private func place(_ request: Request) async throws -> Response {
        let body = try await RequestBody.decode(PlaceOrderRequest.self, from: request).validated()
        // `headers[name]` joins repeated fields with ", ", which would make two keys one.
        let keys = request.headers[values: .idempotencyKey]
        if keys.count > 1 {
            throw Problem(.badRequest, "Invalid Idempotency-Key", detail: "is given more than once")
        }
        let key = keys.first
        // Printable ASCII (a structured-field string's characters, as the IETF draft for this
        // header has it), so that a key is its bytes: any other byte may reach here decoded
        // to U+FFFD, which would make different keys one, and a key of combining marks could
        // outgrow the index's entry limit within 200 characters.
        if let key, !(1...200).contains(key.utf8.count) || !key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            throw Problem(.badRequest, "Invalid Idempotency-Key", detail: "must be 1 to 200 printable ASCII characters")
        }
        guard let prices = try await prices.prices(of: body.eventId, logger: logger) else {
            throw Problem.invalid("eventId", "no event with id \(body.eventId)")
        }
        var total = 0
        var currencies = Set<String>()
        for (index, line) in body.lines.enumerated() {
            guard let price = prices[line.ticketTypeId] else {
                throw Problem.invalid("lines[\(index)].ticketTypeId", "event \(body.eventId) has no ticket type \(line.ticketTypeId)")
            }
            total += price.priceCents * line.quantity
            currencies.insert(price.currency)
        }
        guard currencies.count == 1, let currency = currencies.first else {
            throw Problem.invalid("lines", "all tickets of one order must be priced in one currency")
        }
        let new = OrderStore.NewOrder(
            customerID: body.customerId, eventID: body.eventId, lines: body.lines, totalCents: total,
            currency: currency, request: MessageCoding.encode(body), idempotencyKey: key)
        let placement = try await intake.place(.init(order: new, paymentToken: body.paymentToken))
        switch placement {
        case .created(let order), .replayed(let order):
            return JSONResponse.make(
                Accepted(orderId: order.orderId, sagaId: order.sagaId, status: order.status),
                status: .accepted, headers: [.location: "/orders/\(order.orderId)"])
        case .keyReused:
            throw Problem(.conflict, "Idempotency-Key reused", detail: "this key was used for a different request")
        }
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}
