import EvenTicketApp
import EvenTicketTesting
import Foundation
import Testing

@Suite("Consistency audit", .timeLimit(.minutes(3)))
struct ConsistencyAuditTests {
    @Test func tamperingWithAnyServiceIsReported() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 10)
            let (confirmed, confirmedSaga) = try await system.placeOrder(event: event, ticketType: type, quantity: 2)
            let (rejected, rejectedSaga) = try await system.placeOrder(event: event, ticketType: type, quantity: 1, token: "tok_declined")
            let (declined, declinedSaga) = try await system.placeOrder(event: event, ticketType: type, quantity: 1, token: "tok_declined")
            _ = try await system.awaitTerminalOrder(confirmed)
            _ = try await system.awaitTerminalOrder(rejected)
            _ = try await system.awaitTerminalOrder(declined)
            try await system.expectAuditClean()

            let ticketType = UUID(uuidString: type)!
            let goodSaga = UUID(uuidString: confirmedSaga)!
            let badSaga = UUID(uuidString: rejectedSaga)!
            // A ticket appears from nowhere; the confirmed order is charged twice; the rejected
            // order keeps money and an issued invoice.
            _ = try await system.client.query("UPDATE inventory.ticket_types SET available = available + 1 WHERE id = \(ticketType)", logger: system.logger).collect()
            _ = try await system.client.query("INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents) VALUES (\(goodSaga), 'charge', 5000)", logger: system.logger).collect()
            _ = try await system.client.query("INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents) VALUES (\(badSaga), 'charge', 2500)", logger: system.logger).collect()
            _ = try await system.client.query("UPDATE invoicing.invoices SET status = 'issued' WHERE saga_id = \(badSaga)", logger: system.logger).collect()
            // A rejected order keeps money.
            _ = try await system.client.query("INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents) VALUES (\(UUID(uuidString: declinedSaga)!), 'charge', 2500)", logger: system.logger).collect()
            // A pending order whose saga will never move.
            _ = try await system.client.query("UPDATE ordering.orders SET status = 'pending', created_at = now() - interval '1 hour' WHERE id = \(UUID(uuidString: rejected)!)", logger: system.logger).collect()

            let report = try await ConsistencyAudit(client: system.client).run(logger: system.logger)
            let found = Dictionary(grouping: report.violations, by: \.check).mapValues { $0.map(\.subject) }
            #expect(found["capacity_mismatch"] == [type.lowercased()])
            #expect(found["confirmed_order_money"] == [confirmed.lowercased()])
            #expect(found["order_not_terminal"] == [rejected.lowercased()])
            #expect(found["order_without_saga_outcome"] == [rejected.lowercased()])
            #expect(found["rejected_order_money"] == [declined.lowercased()])
            #expect(found["saga_stuck"] == nil)
            #expect(!report.clean)
            #expect(report.orders == ["confirmed": 1, "pending": 1, "rejected": 1])
        }
    }
}
