import Foundation
import Inventory
import Logging
import Synchronization

/// Ticket prices by event, read from inventory's catalog once per event and kept.
///
/// Prices and currencies never change once an event exists (the API has no way to change
/// them), so the cache is never stale; it only bounds its size. An event's first orders share
/// one read of its catalog entry (``SharedLookups``): an event that goes on sale brings many
/// orders at once, and each one that came before the first read's answer read it too.
final class PriceList: Sendable {
    struct Price: Sendable {
        var priceCents: Int
        var currency: String
    }

    /// Reads an event from the catalog: nil when there is no such event.
    typealias LookUp = @Sendable (_ eventID: UUID, _ logger: Logger) async throws -> Catalog.Event?

    private let lookUp: LookUp
    private let events = Mutex<[UUID: [UUID: Price]]>([:])
    private let lookups = SharedLookups<UUID, [UUID: Price]?>()
    private let capacity: Int

    init(capacity: Int = 10_000, lookUp: @escaping LookUp) {
        self.capacity = capacity
        self.lookUp = lookUp
    }

    convenience init(catalog: Catalog, capacity: Int = 10_000) {
        self.init(capacity: capacity) { id, logger in try await catalog.event(id, logger: logger) }
    }

    /// The prices of an event's ticket types by id, or nil when there is no such event.
    func prices(of eventID: UUID, logger: Logger) async throws -> [UUID: Price]? {
        if let known = events.withLock({ $0[eventID] }) { return known }
        return try await lookups.value(for: eventID) { try await self.readAndKeep(eventID, logger: logger) }
    }

    private func readAndKeep(_ eventID: UUID, logger: Logger) async throws -> [UUID: Price]? {
        guard let event = try await lookUp(eventID, logger) else { return nil }
        let prices = Dictionary(
            event.ticketTypes.map { ($0.ticketTypeId, Price(priceCents: $0.priceCents, currency: $0.currency)) },
            uniquingKeysWith: { first, _ in first })
        events.withLock { events in
            if events.count >= capacity { events.removeAll(keepingCapacity: true) }
            events[eventID] = prices
        }
        return prices
    }
}
