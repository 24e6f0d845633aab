import EvenTicketApp
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Invoicing
import Logging
import MessageBus
import Orchestrator
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

/// Invoicing whose cancellations fail until the test repairs it.
final class BreakableInvoicing: MessageHandler {
    let broken = Mutex(true)
    let inner = InvoicingHandler()

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        if envelope.typeName == CancelInvoice.typeName, broken.withLock({ $0 }) {
            throw PermanentFailure("invoicing ledger is read-only")
        }
        return try await inner.handle(envelope, connection: connection, logger: logger)
    }
}

@Suite("Operator recovery", .timeLimit(.minutes(3)))
struct OperatorRecoveryTests {
    @Test func aCompensationThatKeepsFailingFailsTheSagaVisiblyAndAnOperatorCanResumeIt() async throws {
        let invoicing = BreakableInvoicing()
        var configuration = TestSystem.configuration
        configuration.compensationTimeout = .milliseconds(500)
        try await TestSystem.run(
            configuration: configuration,
            roles: [.api, .ordering, .orchestrator, .inventory, .payment],
            extraServices: { client, logger in
                [BusConsumer(configuration: .init(queue: .invoicing, pollInterval: .milliseconds(100)), client: client,
                             wakeups: Wakeups(), gate: HandlingGate(), handler: invoicing, logger: logger)]
            }
        ) { system in
            let (event, type) = try await system.createEvent(capacity: 5)
            let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 2, token: "tok_declined")

            // Every CancelInvoice fails; after the last resend the saga is failed, visibly.
            let failed = try await system.awaitSaga(saga, state: "failed", timeout: .seconds(30))
            #expect(failed["step"]?.string == "cancelInvoice")
            #expect(failed["reason"]?.string == "payment_declined")
            #expect(failed["failure"]?.string?.hasPrefix("compensation_failed: cancelInvoice") == true)
            let final = try await system.awaitTerminalOrder(order)
            #expect(final["status"]?.string == "rejected")
            #expect(final["reason"]?.string == "payment_declined")
            // The tickets were released beside the cancellation: the two steps ran side by side, and
            // so are undone side by side.
            #expect(try await OrderSagaEndToEndTests.available(event, in: system) == 5)

            let deadLetters = DeadLetters(client: system.client)
            let dead = try await deadLetters.list(logger: system.logger)
            #expect(!dead.isEmpty)
            #expect(dead.allSatisfy { $0.type == CancelInvoice.typeName && $0.error.contains("read-only") })
            #expect(dead.allSatisfy { $0.sagaId.uuidString == saga })

            // The operator repairs invoicing and resumes the saga: it finishes compensating.
            invoicing.broken.withLock { $0 = false }
            let operations = SagaOperations(client: system.client, engine: SagaEngine(stepTimeout: .seconds(10), compensationTimeout: .milliseconds(500)))
            #expect(try await operations.retry(UUID(uuidString: saga)!, logger: system.logger) == .resumed)
            let compensated = try await system.awaitSaga(saga, state: "compensated")
            #expect(compensated["failure"]?.isNull ?? true)
            #expect(try await OrderSagaEndToEndTests.available(event, in: system) == 5)
            #expect(try await OrderSagaEndToEndTests.effects(of: saga, in: system).invoiceStatus == "void")
            #expect(try await operations.retry(UUID(uuidString: saga)!, logger: system.logger) == .notFailed(state: "compensated"))

            // The dead letters can be replayed now; handling them again changes nothing.
            let retried = try await deadLetters.retry(nil, logger: system.logger)
            #expect(retried == dead.count)
            try await system.awaitQuiet()
            #expect(try await deadLetters.list(logger: system.logger).isEmpty)
            #expect(try await system.request(.get, "/sagas/\(saga)").body["state"]?.string == "compensated")
        }
    }
}
