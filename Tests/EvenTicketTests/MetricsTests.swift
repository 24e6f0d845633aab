import EvenTicketApp
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import MessageBus
import Metrics
import PostgresNIO
import Synchronization
import Testing

/// What a process reports for Prometheus. Each test collects into a registry of its own, made
/// the backend of its task tree with swift-metrics' `withMetricsFactory`.
@Suite("Metrics", .timeLimit(.minutes(3)))
struct MetricsTests {
    /// The value of one series (`name{labels}` exactly as exported), nil when it is not there.
    static func value(_ series: String, in export: PrometheusExport) -> Double? {
        let text = String(buffer: export.render())
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func aConsumerCountsWhatBecameOfItsMessagesOnlyOnceTheirTransactionCommitted() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                // Published together, healthy first (the smaller id: the claim takes messages
                // due at once in id order), so the first claim takes both and handles the healthy
                // one before the poison fails the batch, which rolls back; then each is handled
                // alone. The healthy one is counted once.
                let ids = [UUID(), UUID()].sorted { $0.uuidString < $1.uuidString }
                let healthy = Self.message(id: ids[0])
                let poison = Self.message(id: ids[1])
                let handler = FailingHandler(failing: poison.envelope.messageID)
                try await MessageBusTests.publish([healthy, poison], client: client, logger: logger)
                // Whole batches from the start: counted handlings (one at a time) are tested apart.
                let configuration = ConsumerConfiguration(
                    queue: .inventory, maxAttempts: 2, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                    countedHandlings: 0)
                try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                    let deadLettered = try await eventually {
                        Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="dead_lettered"}"#, in: export) == 1
                    }
                    #expect(deadLettered)
                    // The healthy message again, under its id: skipped as a duplicate.
                    try await MessageBusTests.publish([healthy], client: client, logger: logger)
                    let skipped = try await eventually {
                        Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="duplicate"}"#, in: export) == 1
                    }
                    #expect(skipped)
                }
                #expect(handler.calls(healthy.envelope.messageID) == 2, "once in the failed batch, once alone")
                #expect(Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="handled"}"#, in: export) == 1)
                #expect(Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="retried"}"#, in: export) == 1)
                #expect(Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="dead_lettered"}"#, in: export) == 1)
                // Committed transactions that handled a message: the healthy one alone, and the
                // poison's two careful passes. Each waited a little, in seconds.
                #expect(Self.value(#"eventicket_bus_delivery_delay_seconds_count{queue="inventory"}"#, in: export) == 3)
                let waited = try #require(Self.value(#"eventicket_bus_delivery_delay_seconds_sum{queue="inventory"}"#, in: export))
                #expect(waited > 0 && waited < 30)
                let busy = try #require(Self.value(#"eventicket_bus_batch_duration_seconds_sum{queue="inventory"}"#, in: export))
                #expect(busy > 0 && busy < 30)
            }
        }
    }

    /// A message to the inventory queue under `id`.
    static func message(id: UUID) -> OutgoingMessage {
        var envelope = MessageBusTests.message().envelope
        envelope.messageID = id
        return OutgoingMessage(envelope: envelope, queue: .inventory)
    }

    @Test func aBatchThatFailsAfterItsHandlerRanIsNotCounted() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                // The handler succeeds, but its writes fail in a batch of two: the statement
                // that publishes, so the whole batch rolls back and each message goes alone.
                let handler = FailingTogetherHandler()
                try await MessageBusTests.publish([MessageBusTests.message(), MessageBusTests.message()], client: client, logger: logger)
                // One claim loop: a second one could take both again between the failed batch's
                // rollback and the first loop's claims of each message alone. Counted handlings
                // (one at a time) are off: this is about a batch.
                let configuration = ConsumerConfiguration(queue: .inventory, pollInterval: .milliseconds(100), concurrency: 1,
                                                          countedHandlings: 0)
                try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                    let handled = try await eventually {
                        Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="handled"}"#, in: export) == 2
                    }
                    #expect(handled)
                }
                #expect(handler.batchSizes == [2, 1, 1])
                // The batch that rolled back never ran its `onCommit`; each message alone did.
                #expect(handler.committedBatchSizes == [1, 1])
                #expect(Self.value(#"eventicket_bus_messages_total{queue="inventory",outcome="handled"}"#, in: export) == 2)
                #expect(Self.value(#"eventicket_bus_batches_total{queue="inventory"}"#, in: export) == 2)
                #expect(Self.value(#"eventicket_bus_delivery_delay_seconds_count{queue="inventory"}"#, in: export) == 2)
                #expect(Self.value(#"eventicket_bus_batch_messages_sum{queue="inventory"}"#, in: export) == 2)
            }
        }
    }

    @Test func aSystemReportsItsOrdersTheirHopsAndWhatTheyPublished() async throws {
        let export = PrometheusExport()
        var configuration = TestSystem.configuration
        configuration.queueSampling = .milliseconds(100)
        try await withMetricsFactory(export.factory) {
            try await TestSystem.run(configuration: configuration) { system in
                let (event, type) = try await system.createEvent(capacity: 10)
                let (confirmed, _) = try await system.placeOrder(event: event, ticketType: type, token: "tok_visa")
                let (rejected, _) = try await system.placeOrder(event: event, ticketType: type, token: "tok_declined")
                #expect(try await system.awaitTerminalOrder(confirmed)["status"]?.string == "confirmed")
                #expect(try await system.awaitTerminalOrder(rejected)["status"]?.string == "rejected")
                try await system.awaitQuiet()
                // An order is terminal from its saga's commit; the counter moves right after it.
                let ended = try await eventually {
                    Self.value(#"eventicket_sagas_ended_total{state="completed"}"#, in: export) == 1
                        && Self.value(#"eventicket_sagas_ended_total{state="compensated"}"#, in: export) == 1
                }
                #expect(ended)
                #expect(Self.value(#"eventicket_sagas_ended_total{state="failed"}"#, in: export) == 0)
                #expect(Self.value("eventicket_orders_placed_total", in: export) == 2)
                #expect(Self.value(#"eventicket_bus_published_total{queue="inventory",type="ReserveTickets"}"#, in: export) == 2)
                // Each saga recorded its outcome on its order itself: nothing went to `ordering`.
                #expect(Self.value(#"eventicket_bus_published_total{queue="ordering",type="OrderConfirmed"}"#, in: export) == nil)
                #expect(Self.value(#"eventicket_bus_published_total{queue="ordering",type="OrderRejected"}"#, in: export) == nil)
                #expect(Self.value(#"eventicket_bus_published_total{queue="invoicing",type="CancelInvoice"}"#, in: export) == 1)
                // The confirmed saga's 3 events and the rejected one's 5 (PaymentFailed, then
                // the answers to its two compensations).
                #expect(Self.value(#"eventicket_bus_messages_total{queue="orchestrator",outcome="handled"}"#, in: export) == 8)
                #expect(Self.value(#"eventicket_bus_delivery_delay_seconds_count{queue="orchestrator"}"#, in: export) == 8)
                #expect(Self.value(#"http_server_requests_total{http_route="/orders",http_request_method="POST",http_response_status_code="202"}"#,
                                   in: export) == 2)
                // Sampled every 100 ms by the process, for the queues it consumes: a dead letter
                // of payment's shows.
                _ = try await system.client.query(
                    """
                    INSERT INTO bus.dead_letters (id, queue, type, saga_id, payload, headers, created_at, attempts, error)
                    VALUES (gen_random_uuid(), 'payment', 'ChargePayment.v1', gen_random_uuid(), '{}', '{}', now(), 5, 'test')
                    """, logger: system.logger).collect()
                let sampled = try await eventually {
                    Self.value(#"eventicket_bus_dead_letters{queue="payment"}"#, in: export) == 1
                }
                #expect(sampled)
            }
        }
    }

    @Test func queueGaugesReportDueDelayedAndDeadMessagesPerQueue() async throws {
        let export = PrometheusExport()
        try await TestSystem.withDatabase { client, logger in
            let due = [MessageBusTests.message(), MessageBusTests.message()]
            let later = OutgoingMessage(envelope: MessageBusTests.message().envelope, queue: .inventory, delay: .seconds(3600))
            try await MessageBusTests.publish(due + [later], client: client, logger: logger)
            _ = try await client.query(
                """
                INSERT INTO bus.dead_letters (id, queue, type, saga_id, payload, headers, created_at, attempts, error)
                VALUES (gen_random_uuid(), 'inventory', 'ReleaseTickets.v1', gen_random_uuid(), '{}', '{}', now(), 5, 'test')
                """, logger: logger).collect()
            try await Task.sleep(for: .milliseconds(20))
            let gauges = QueueGauges(client: client, queues: [.inventory, .payment], logger: logger, factory: export.factory)
            try await gauges.sample()
            #expect(Self.value(#"eventicket_bus_queue_messages{queue="inventory",state="due"}"#, in: export) == 2)
            #expect(Self.value(#"eventicket_bus_queue_messages{queue="inventory",state="delayed"}"#, in: export) == 1)
            #expect(Self.value(#"eventicket_bus_dead_letters{queue="inventory"}"#, in: export) == 1)
            #expect((Self.value(#"eventicket_bus_queue_oldest_due_seconds{queue="inventory"}"#, in: export) ?? 0) >= 0.02)
            #expect(Self.value(#"eventicket_bus_queue_messages{queue="payment",state="due"}"#, in: export) == 0)
            #expect(Self.value(#"eventicket_bus_dead_letters{queue="payment"}"#, in: export) == 0)
            #expect(Self.value(#"eventicket_bus_queue_oldest_due_seconds{queue="payment"}"#, in: export) == 0)
        }
    }

    @Test func theMetricsServerAnswersInPrometheusTextFormat() async throws {
        let export = PrometheusExport()
        Counter(label: "eventicket_test_total", dimensions: [("kind", "a")], factory: export.factory).increment(by: 3)
        let app = export.server(host: "127.0.0.1", port: 0, logger: TestLogger.make())
        try await app.test(.live) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                #expect(text.contains("# TYPE eventicket_test_total counter\n"))
                #expect(text.contains(#"eventicket_test_total{kind="a"} 3"#))
            }
            try await client.execute(uri: "/orders", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}

/// Fails every delivery of one message; records the others.
final class FailingHandler: MessageHandler {
    let failing: UUID
    private let deliveries = Mutex<[UUID: Int]>([:])

    init(failing: UUID) { self.failing = failing }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        deliveries.withLock { $0[envelope.messageID, default: 0] += 1 }
        if envelope.messageID == failing { throw RecordingHandler.TestFailure(description: "this one always fails") }
        return []
    }

    func calls(_ id: UUID) -> Int { deliveries.withLock { $0[id] ?? 0 } }
}

/// Handles every batch, but leaves the publishing statement a write that fails when the batch
/// holds more than one message (a division by zero).
final class FailingTogetherHandler: BatchOnlyHandler {
    private let batches = Mutex<[Int]>([])
    /// The sizes of the batches whose `onCommit` ran.
    private let committed = Mutex<[Int]>([])

    struct FailTogether: FinalWrites {
        static let ctes = """
            fail_together AS (INSERT INTO bus.processed_messages (consumer, message_id)
                              SELECT 'metrics-test', gen_random_uuid() WHERE 1 / (2 - $1::int) = 1)
            """
        static let parameterCount = 1
        var count: Int
        func appendBindings(to bindings: inout PostgresBindings) { bindings.append(count) }
    }

    func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        batches.withLock { $0.append(envelopes.count) }
        let count = envelopes.count
        return HandledBatch(messages: [], finalWrites: FailTogether(count: count), onCommit: { [self] in
            self.committed.withLock { $0.append(count) }
        })
    }

    var batchSizes: [Int] { batches.withLock { $0 } }
    var committedBatchSizes: [Int] { committed.withLock { $0 } }
}
