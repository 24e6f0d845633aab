import EvenTicketApp
import EvenTicketTesting
import Foundation
import Payment
import PostgresNIO
import Testing

/// Orders through the HTTP API with the orchestrator and every participant running.
@Suite("Order sagas end to end", .timeLimit(.minutes(3)))
struct OrderSagaEndToEndTests {
    /// Checks the participants' own records for one saga.
    struct Effects: Equatable {
        var moneyKept: Int
        var charges: Int
        var invoiceStatus: String?
    }

    static func effects(of sagaID: String, in system: TestSystem) async throws -> Effects {
        let saga = UUID(uuidString: sagaID)!
        let money = try await system.scalar("SELECT coalesce(sum(amount_cents), 0)::int FROM payment.gateway_ledger WHERE saga_id = \(saga)")
        let charges = try await system.scalar("SELECT count(*)::int FROM payment.gateway_ledger WHERE saga_id = \(saga) AND kind = 'charge'")
        var invoice: String?
        for try await status in try await system.client.query(
            "SELECT status FROM invoicing.invoices WHERE saga_id = \(saga)", logger: system.logger).decode(String.self) {
            invoice = status
        }
        return Effects(moneyKept: money, charges: charges, invoiceStatus: invoice)
    }

    static func available(_ event: String, in system: TestSystem) async throws -> Int? {
        try await system.request(.get, "/events/\(event)").body["ticketTypes"]?.array?.first?.object?["available"]?.int
    }

    /// The names of the commands a saga sent, in order.
    static func sent(_ saga: [String: JSONValue]) -> [String] {
        (saga["history"]?.array ?? []).compactMap { entry in
            entry.object?["kind"]?.string == "sent" ? entry.object?["message"]?.string : nil
        }.filter { $0 != "StepDeadlineReached" }
    }

    /// The outcomes a saga recorded on its order, in order (history entries of kind `order`).
    static func recorded(_ saga: [String: JSONValue]) -> [String] {
        (saga["history"]?.array ?? []).compactMap { entry in
            entry.object?["kind"]?.string == "order" ? entry.object?["message"]?.string : nil
        }
    }

    @Test func aVisaOrderIsConfirmed() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 10, priceCents: 2500)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 2)
            let final = try await system.awaitTerminalOrder(order)
            #expect(final["status"]?.string == "confirmed")
            #expect(final["reason"]?.isNull == true)
            #expect(final["totalCents"]?.int == 5000)
            #expect(final["currency"]?.string == "EUR")
            let sagaView = try await system.awaitSaga(saga, state: "completed")
            #expect(Self.sent(sagaView) == ["ReserveTickets", "CreateInvoice", "ChargePayment"])
            #expect(Self.recorded(sagaView) == ["confirmed"])
            #expect(try await Self.available(event, in: system) == 8)
            #expect(try await Self.effects(of: saga, in: system) == Effects(moneyKept: 5000, charges: 1, invoiceStatus: "issued"))
            try await system.expectAuditClean()
        }
    }

    @Test func aDeclinedCardRejectsTheOrderAndUndoesEveryStep() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 10)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 3, token: "tok_declined")
            let final = try await system.awaitTerminalOrder(order)
            #expect(final["status"]?.string == "rejected")
            #expect(final["reason"]?.string == "payment_declined")
            let sagaView = try await system.awaitSaga(saga, state: "compensated")
            #expect(Self.sent(sagaView) == ["ReserveTickets", "CreateInvoice", "ChargePayment", "CancelInvoice", "ReleaseTickets"])
            #expect(Self.recorded(sagaView) == ["rejected"])
            #expect(try await Self.available(event, in: system) == 10)
            #expect(try await Self.effects(of: saga, in: system) == Effects(moneyKept: 0, charges: 0, invoiceStatus: "void"))
            try await system.expectAuditClean()
        }
    }

    @Test func aGatewayTimeoutRejectsTheOrderAndTheLateChargeIsRefunded() async throws {
        // Short enough for a quick test, long enough that only the slow gateway times out.
        let configuration = SystemConfiguration(
            stepTimeout: .seconds(4), payment: PaymentConfiguration(slowChargeDelay: .seconds(6)),
            consumerConcurrency: 2, retryBase: .milliseconds(20))
        try await TestSystem.run(configuration: configuration) { system in
            let (event, type) = try await system.createEvent(capacity: 10)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 1, token: "tok_timeout")
            let final = try await system.awaitTerminalOrder(order)
            #expect(final["status"]?.string == "rejected")
            #expect(final["reason"]?.string == "payment_timeout")
            let compensated = try await system.awaitSaga(saga, state: "compensated")
            #expect(Self.sent(compensated).prefix(6) == ["ReserveTickets", "CreateInvoice", "ChargePayment",
                                                          "RefundPayment", "CancelInvoice", "ReleaseTickets"])
            #expect(Self.recorded(compensated) == ["rejected"])
            #expect(try await Self.available(event, in: system) == 10)
            // The gateway answers after the saga gave up: the late charge must be refunded.
            var effects = Effects(moneyKept: -1, charges: 0, invoiceStatus: nil)
            let settled = try await eventually(timeout: .seconds(30)) {
                effects = try await Self.effects(of: saga, in: system)
                return effects.charges == 1 && effects.moneyKept == 0
            }
            #expect(settled, "late charge not refunded: \(effects)")
            #expect(effects.invoiceStatus == "void")
            // Which refund takes the money back depends on timing: usually the compensation's
            // own, which found the charge pending and marked it to be refunded when it lands;
            // if the gateway answered first, the orchestrator's answer to the late
            // PaymentCharged (a second RefundPayment). Either way, exactly once.
            try await system.awaitQuiet()
            #expect(try await Self.effects(of: saga, in: system) == Effects(moneyKept: 0, charges: 1, invoiceStatus: "void"))
            #expect(try await system.scalar(
                "SELECT count(*)::int FROM payment.gateway_ledger WHERE saga_id = \(UUID(uuidString: saga)!) AND kind = 'refund' AND amount_cents <> 0") == 1,
                "refunded exactly once")
            let history = try await system.request(.get, "/sagas/\(saga)").body
            #expect(history["state"]?.string == "compensated")
            try await system.expectAuditClean()
        }
    }

    @Test func aFlakyGatewayIsRetriedAndChargesOnce() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 10)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 1, token: "tok_flaky")
            #expect(try await system.awaitTerminalOrder(order)["status"]?.string == "confirmed")
            #expect(try await Self.effects(of: saga, in: system) == Effects(moneyKept: 2500, charges: 1, invoiceStatus: "issued"))
        }
    }

    @Test func moreTicketsThanRemainIsRejectedAsUnavailable() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 3)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 5)
            let final = try await system.awaitTerminalOrder(order)
            #expect(final["status"]?.string == "rejected")
            #expect(final["reason"]?.string == "tickets_unavailable")
            _ = try await system.awaitSaga(saga, state: "compensated")
            #expect(try await Self.available(event, in: system) == 3)
            // The invoice was asked for beside the reservation: it is void, whichever came first.
            #expect(try await Self.effects(of: saga, in: system) == Effects(moneyKept: 0, charges: 0, invoiceStatus: "void"))
        }
    }

    @Test func twoHundredConcurrentOrdersNeverOversellACapacityOfOneHundred() async throws {
        // A production-like step timeout: with the tests' 2 s, a burst of 200 reservations on one
        // ticket type (they serialise on its row) can time out, which is correct but not this test's point.
        var configuration = TestSystem.configuration
        configuration.stepTimeout = .seconds(30)
        try await TestSystem.run(configuration: configuration) { system in
            let (event, type) = try await system.createEvent(capacity: 100)
            let orders = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await system.placeOrder(event: event, ticketType: type, quantity: 1).order }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(orders.count == 200)
            let allTerminal = try await eventually(timeout: .seconds(120), every: .milliseconds(250)) {
                try await system.scalar("SELECT count(*)::int FROM ordering.orders WHERE status = 'pending'") == 0
            }
            #expect(allTerminal)
            let confirmed = try await system.scalar("SELECT count(*)::int FROM ordering.orders WHERE status = 'confirmed'")
            let unavailable = try await system.scalar(
                "SELECT count(*)::int FROM ordering.orders WHERE status = 'rejected' AND reason = 'tickets_unavailable'")
            #expect(confirmed == 100)
            var reasons: [String: Int] = [:]
            for try await (reason, count) in try await system.client.query(
                "SELECT coalesce(reason, '-'), count(*)::int FROM ordering.orders GROUP BY 1", logger: system.logger).decode((String, Int).self) {
                reasons[reason] = count
            }
            #expect(unavailable == 100, "\(reasons)")
            #expect(try await Self.available(event, in: system) == 0)
            let held = try await system.scalar("SELECT coalesce(sum(quantity), 0)::int FROM inventory.reservations WHERE status = 'held'")
            #expect(held == 100)
            let sagasNotFinal = try await system.scalar(
                "SELECT count(*)::int FROM orchestrator.sagas WHERE state NOT IN ('completed', 'compensated')")
            #expect(sagasNotFinal == 0)
            let report = try await system.audit()
            #expect(report.violations.isEmpty, "\(report.violations)")
            #expect(report.orders == ["confirmed": 100, "rejected": 100])
        }
    }
}
