import Foundation
import Inventory
import Logging
import Synchronization

/// Ticket prices by event, read from inventory's catalog once per event and kept.
///
/// Prices and currencies never change once an event exists (the API has no way to change
/// them), so the cache is never stale; it only bounds its size.
final class PriceList: Sendable {
    struct Price: Sendable {
        var priceCents: Int
        var currency: String
    }

    private let catalog: Catalog
    private let events = Mutex<[UUID: [UUID: Price]]>([:])
    private let capacity: Int

    init(catalog: Catalog, capacity: Int = 10_000) {
        self.catalog = catalog
        self.capacity = capacity
    }

    /// The prices of an event's ticket types by id, or nil when there is no such event.
    func prices(of eventID: UUID, logger: Logger) async throws -> [UUID: Price]? {
        if let known = events.withLock({ $0[eventID] }) { return known }
        guard let event = try await catalog.event(eventID, logger: logger) else { return nil }
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
