import EvenTicketTesting
import Foundation
@testable import HTTPAPI
import Inventory
import Logging
import Synchronization
import Testing

/// The API's price list: an event's first orders, arriving together as when it goes on sale,
/// read its catalog entry once.
@Suite("Price list", .timeLimit(.minutes(3)))
struct PriceListTests {
    @Test func anEventsFirstOrdersTogetherReadTheCatalogOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            let catalog = Catalog(client: client)
            let event = try await catalog.createEvent(
                name: "On sale now", ticketTypes: [.init(name: "Standing", priceCents: 4_500, currency: "EUR", capacity: 100)],
                logger: logger)
            let reads = Mutex(0)
            // Each read waits before it asks the database, so that the requests made together
            // all arrive while it runs.
            let prices = PriceList { id, logger in
                reads.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(200))
                return try await catalog.event(id, logger: logger)
            }
            let ticketType = try #require(event.ticketTypes.first?.ticketTypeId)

            let found = try await Self.prices(of: event.eventId, times: 50, in: prices, logger: logger)
            #expect(found.map { $0?[ticketType]?.priceCents } == Array(repeating: 4_500, count: 50))
            #expect(reads.withLock { $0 } == 1)
            #expect(try await prices.prices(of: event.eventId, logger: logger)?[ticketType]?.currency == "EUR")
            #expect(reads.withLock { $0 } == 1, "kept")

            // No such event: requests together share a read; the answer is not kept.
            let unknown = UUID()
            let none = try await Self.prices(of: unknown, times: 20, in: prices, logger: logger)
            #expect(none.allSatisfy { $0 == nil })
            #expect(reads.withLock { $0 } == 2)
            #expect(try await prices.prices(of: unknown, logger: logger) == nil)
            #expect(reads.withLock { $0 } == 3)
        }
    }

    static func prices(of event: UUID, times: Int, in prices: PriceList, logger: Logger) async throws -> [[UUID: PriceList.Price]?] {
        try await withThrowingTaskGroup(of: [UUID: PriceList.Price]?.self) { group in
            for _ in 0..<times {
                group.addTask { try await prices.prices(of: event, logger: logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }
}
