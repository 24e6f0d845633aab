import EvenTicketTesting
import Foundation
import Logging
import Orchestrator
import Ordering
import PostgresNIO
import Synchronization
import Testing
@testable import HTTPAPI

/// The order intake's writers, as a process that is being cancelled sees them.
@Suite("Order intake", .timeLimit(.minutes(2)))
struct OrderIntakeTests {
    static func placement() -> OrderIntake.Placement {
        OrderIntake.Placement(
            order: OrderStore.NewOrder(
                customerID: "intake-test", eventID: UUID(), lines: [Order.Line(ticketTypeId: UUID(), quantity: 1)],
                totalCents: 1_000, currency: "EUR", request: "{}", idempotencyKey: nil),
            paymentToken: "tok_visa")
    }

    @Test func aRequestAfterTheWritersStoppedIsAnswered503AndNotLeftWaiting() async throws {
        try await TestSystem.withDatabase { client, logger in
            let intake = OrderIntake(client: client, engine: SagaEngine(stepTimeout: .seconds(30)), wakeups: nil, logger: logger)
            let running = Task { try await intake.run() }
            try await Task.sleep(for: .milliseconds(100))
            running.cancel()
            try await running.value
            // Nothing would write it now: it must be answered, not queued for ever (it was).
            let answer = Mutex<String?>(nil)
            Task {
                let text: String
                do {
                    _ = try await intake.place(Self.placement())
                    text = "placed"
                } catch let error as ServiceUnavailable {
                    text = "503: \(error.detail)"
                } catch {
                    text = "\(error)"
                }
                answer.withLock { $0 = text }
            }
            #expect(try await eventually(timeout: .seconds(10)) { answer.withLock { $0 } != nil }, "the request was left waiting")
            #expect(answer.withLock { $0 } == "503: The server is stopping; try again shortly.")
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM ordering.orders", client: client, logger: logger) == 0)
        }
    }
}
