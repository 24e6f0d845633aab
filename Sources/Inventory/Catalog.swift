import Database
import Foundation
import Logging
import PostgresNIO

/// Events and their ticket types: inventory's public catalog.
public struct Catalog: Sendable {
    let client: PostgresClient
    /// How long a call waits for a pooled connection before it fails with
    /// `ConnectionWaitTimedOut` (nil: as long as the pool waits).
    let connectionWait: Duration?

    public init(client: PostgresClient, connectionWait: Duration? = nil) {
        self.client = client
        self.connectionWait = connectionWait
    }

    public struct NewTicketType: Sendable, Codable, Equatable {
        public var name: String
        public var priceCents: Int
        public var currency: String
        public var capacity: Int
        public init(name: String, priceCents: Int, currency: String, capacity: Int) {
            self.name = name
            self.priceCents = priceCents
            self.currency = currency
            self.capacity = capacity
        }
    }

    public struct TicketType: Sendable, Codable, Equatable {
        public var ticketTypeId: UUID
        public var name: String
        public var priceCents: Int
        public var currency: String
        public var capacity: Int
        public var available: Int
    }

    public struct Event: Sendable, Codable, Equatable {
        public var eventId: UUID
        public var name: String
        public var ticketTypes: [TicketType]
    }

    /// Creates an event with its ticket types, all tickets available.
    public func createEvent(name: String, ticketTypes: [NewTicketType], logger: Logger) async throws -> Event {
        let eventID = UUID()
        let created = ticketTypes.map { _ in UUID() }
        try await client.withConnection(waitingAtMost: connectionWait) { connection in
            try await connection.transaction(logger: logger) { connection in
                _ = try await connection.query(
                    "INSERT INTO inventory.events (id, name) VALUES (\(eventID), \(name))", logger: logger).collect()
                _ = try await connection.query(
                    """
                    INSERT INTO inventory.ticket_types (id, event_id, position, name, price_cents, currency, capacity, available)
                    SELECT t.id, \(eventID), t.n, t.name, t.price, t.currency, t.capacity, t.capacity
                      FROM unnest(\(created)::uuid[], \(ticketTypes.map(\.name))::text[], \(ticketTypes.map(\.priceCents))::bigint[],
                                  \(ticketTypes.map(\.currency))::text[], \(ticketTypes.map(\.capacity))::integer[])
                           WITH ORDINALITY AS t(id, name, price, currency, capacity, n)
                    """,
                    logger: logger
                ).collect()
            }
        }
        return Event(
            eventId: eventID, name: name,
            ticketTypes: zip(created, ticketTypes).map { id, type in
                TicketType(ticketTypeId: id, name: type.name, priceCents: type.priceCents, currency: type.currency,
                           capacity: type.capacity, available: type.capacity)
            })
    }

    /// An event with live availability, or nil when there is no such event.
    public func event(_ id: UUID, logger: Logger) async throws -> Event? {
        try await client.withConnection(waitingAtMost: connectionWait, watchedBy: .requests(logger: logger), "reading event \(id)") { connection in
            let rows = try await connection.query(
                """
                SELECT e.name, t.id, t.name, t.price_cents, t.currency, t.capacity, t.available
                  FROM inventory.events e LEFT JOIN inventory.ticket_types t ON t.event_id = e.id
                 WHERE e.id = \(id)
                 ORDER BY t.position
                """, logger: logger)
            var event: Event?
            for try await (name, typeID, typeName, price, currency, capacity, available)
                in rows.decode((String, UUID?, String?, Int?, String?, Int?, Int?).self)
            {
                if event == nil { event = Event(eventId: id, name: name, ticketTypes: []) }
                if let typeID, let typeName, let price, let currency, let capacity, let available {
                    event?.ticketTypes.append(TicketType(ticketTypeId: typeID, name: typeName, priceCents: price,
                                                         currency: currency, capacity: capacity, available: available))
                }
            }
            return event
        }
    }
}

extension Catalog {
    /// The oldest event, if any.
    public func firstEvent(logger: Logger) async throws -> Event? {
        let rows = try await client.query("SELECT id FROM inventory.events ORDER BY created_at, id LIMIT 1", logger: logger)
        guard let first = try await rows.decode(UUID.self).lastElement() else { return nil }
        return try await event(first, logger: logger)
    }
}
