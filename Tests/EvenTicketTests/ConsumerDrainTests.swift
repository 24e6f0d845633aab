import EvenTicketContracts
import EvenTicketTesting
import Logging
import MessageBus
import PostgresNIO
import ServiceLifecycle
import Testing

/// A consumer whose batch is still busy when its shutdown drain ends says, in the warning,
/// what each of its claim loops is doing and for how long.
@Suite("Consumer drain", .timeLimit(.minutes(3)))
struct ConsumerDrainTests {
    /// Signals that it started handling, then takes a minute (until cancelled).
    struct Slow: MessageHandler {
        let started: AsyncStream<Void>.Continuation

        func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
            started.yield()
            try await Task.sleep(for: .seconds(60))
            return []
        }
    }

    @Test func aDrainThatTimesOutLogsEachLoopsState() async throws {
        try await TestSystem.withDatabase { client, testLogger in
            let captured = CapturingLogHandler(label: "eventicket.test")
            let logger = Logger(label: "eventicket.test") { _ in captured }
            let (started, handling) = AsyncStream.makeStream(of: Void.self)
            let consumer = BusConsumer(
                configuration: .init(queue: .inventory, pollInterval: .milliseconds(100), concurrency: 2,
                                     drainTimeout: .milliseconds(300), countedHandlings: 0),
                client: client, wakeups: Wakeups(), gate: HandlingGate(), handler: Slow(started: handling), logger: logger)
            try await MessageBusTests.publish([MessageBusTests.message()], client: client, logger: testLogger)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: consumer)], gracefulShutdownSignals: [], cancellationSignals: [], logger: testLogger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                for await _ in started { break }
                await group.triggerGracefulShutdown()
                let logged = try await eventually { captured.text.contains("after the drain timeout") }
                #expect(logged)
                let warning = captured.text.split(separator: "\n").first { $0.contains("after the drain timeout") }.map(String.init) ?? ""
                // The busy loop is in its batch's handler; the idle one stopped when the shutdown began.
                #expect(warning.contains(#/loop [01]: handling 1 for [0-9.]+ seconds/#), "\(warning)")
                #expect(warning.contains(#/loop [01]: stopped for/#), "\(warning)")
            }
        }
    }
}
