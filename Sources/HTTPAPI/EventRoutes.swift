import EvenTicketContracts
import Foundation
import Hummingbird
import Inventory
import Logging

/// `POST /events` and `GET /events/{eventId}`: inventory's catalog.
struct EventRoutes {
    let catalog: Catalog
    let logger: Logger

    struct CreateEventRequest: JSONReadable {
        struct TicketType: JSONReadable {
            var name: String?
            var priceCents: Int?
            var currency: String?
            var capacity: Int?

            init(json: JSONObjectReader) throws {
                try json.onlyKeys(["name", "priceCents", "currency", "capacity"])
                name = try json.stringIfPresent("name")
                priceCents = try json.intIfPresent("priceCents")
                currency = try json.stringIfPresent("currency")
                capacity = try json.intIfPresent("capacity")
            }
        }
        var name: String?
        var ticketTypes: [TicketType]?

        init(json: JSONObjectReader) throws {
            try json.onlyKeys(["name", "ticketTypes"])
            name = try json.stringIfPresent("name")
            ticketTypes = try json.arrayIfPresent("ticketTypes")
        }

        func validated() throws -> (String, [Catalog.NewTicketType]) {
            let name = try TextField.validated(name, field: "name", maximum: 200)
            guard let ticketTypes, !ticketTypes.isEmpty else { throw Problem.invalid("ticketTypes", "must hold at least one ticket type") }
            guard ticketTypes.count <= 20 else { throw Problem.invalid("ticketTypes", "must hold at most 20 ticket types") }
            let valid = try ticketTypes.enumerated().map { index, type -> Catalog.NewTicketType in
                let field = "ticketTypes[\(index)]"
                let typeName = try TextField.validated(type.name, field: "\(field).name", maximum: 100)
                guard let price = type.priceCents, (0...100_000_000).contains(price) else {
                    throw Problem.invalid("\(field).priceCents", "is required, 0 to 100000000")
                }
                guard let currency = type.currency, currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    throw Problem.invalid("\(field).currency", "is required, three upper-case letters (ISO 4217)")
                }
                guard let capacity = type.capacity, (0...1_000_000).contains(capacity) else {
                    throw Problem.invalid("\(field).capacity", "is required, 0 to 1000000")
                }
                return Catalog.NewTicketType(name: typeName, priceCents: price, currency: currency, capacity: capacity)
            }
            return (name, valid)
        }
    }

    /// Creating events is the operators'; reading them is everyone's.
    func register(creating operators: some RouterMethods<BasicRequestContext>, reading router: some RouterMethods<BasicRequestContext>) {
        operators.post("/events") { request, _ in
            let (name, types) = try await RequestBody.decode(CreateEventRequest.self, from: request).validated()
            let event = try await catalog.createEvent(name: name, ticketTypes: types, logger: logger)
            return JSONResponse.make(event, status: .created, headers: [.location: "/events/\(event.eventId)"])
        }
        router.get("/events/:eventId") { _, context in
            let id = try context.parameters.uuid("eventId", what: "event")
            guard let event = try await catalog.event(id, logger: logger) else { throw Problem.notFound("no event with id \(id)") }
            return JSONResponse.make(event)
        }
    }
}
