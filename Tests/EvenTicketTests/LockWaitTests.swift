import EvenTicketContracts
import EvenTicketTesting
import Foundation
import MessageBus
import PostgresNIO
import Testing

/// A row held elsewhere for longer than the lock timeout holds up only the messages that need it.
@Suite("Lock waits", .timeLimit(.minutes(3)))
struct LockWaitTests {
    @Test func aTicketTypeLockedElsewhereHoldsUpOnlyTheReservationsThatNeedIt() async throws {
        try await TestSystem.run(roles: [.inventory]) { system in
            let (blockedEvent, blockedType) = try await system.createEvent(capacity: 10)
            let (freeEvent, freeType) = try await system.createEvent(capacity: 10)
            func reserve(_ event: String, _ type: String) -> OutgoingMessage {
                OutgoingMessage(
                    ReserveTickets(orderID: UUID(), eventID: UUID(uuidString: event)!,
                                   lines: [OrderLine(ticketTypeID: UUID(uuidString: type)!, quantity: 1)]),
                    sagaID: UUID())
            }
            let blocked = reserve(blockedEvent, blockedType)
            let free = (0..<10).map { _ in reserve(freeEvent, freeType) }
            func replies() async throws -> Int {
                try await system.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'orchestrator' AND type = 'TicketsReserved.v1'")
            }
            // An operator's session holds the first event's ticket type, and keeps it.
            try await system.client.withConnection { holder in
                _ = try await holder.query("BEGIN", logger: system.logger).collect()
                _ = try await holder.query(
                    "SELECT id FROM inventory.ticket_types WHERE id = \(UUID(uuidString: blockedType)!) FOR UPDATE",
                    logger: system.logger).collect()
                // One batch: the blocked reservation first, then ten that need another row.
                try await system.client.transaction(logger: system.logger) { connection in
                    try await MessagePublisher.publish([blocked] + free, notifyAtCommit: true, on: connection, logger: system.logger)
                }
                // Before, the whole batch waited out the 5 s lock timeout, rolled back, and was
                // claimed again, for as long as the lock was held.
                let othersAnswered = try await eventually(timeout: .seconds(45)) { try await replies() == 10 }
                let answered = try await replies()
                #expect(othersAnswered, "answered while the lock was held: \(answered)")
                // The blocked reservation, tried alone, waits again and is postponed, uncounted.
                let postponed = try await eventually(timeout: .seconds(30)) {
                    try await system.scalar(
                        "SELECT count(*)::int FROM bus.messages WHERE id = \(blocked.envelope.messageID) AND visible_at > now() AND last_error LIKE '%lock timeout%'") == 1
                }
                #expect(postponed)
                #expect(try await system.scalar(
                    "SELECT attempts FROM bus.messages WHERE id = \(blocked.envelope.messageID)") == 0, "not counted as its failure")
                #expect(try await replies() == 10)
                _ = try await holder.query("ROLLBACK", logger: system.logger).collect()
            }
            // Once the lock is gone, the postponed reservation goes through too.
            let allAnswered = try await eventually(timeout: .seconds(45)) { try await replies() == 11 }
            #expect(allAnswered)
            #expect(try await system.scalar("SELECT count(*)::int FROM bus.dead_letters") == 0)
            #expect(try await system.scalar(
                "SELECT available FROM inventory.ticket_types WHERE id = \(UUID(uuidString: blockedType)!)") == 9)
        }
    }
}
