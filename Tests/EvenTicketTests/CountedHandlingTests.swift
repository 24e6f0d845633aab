import Database
import EvenTicketApp
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Metrics
import PostgresNIO
import Synchronization
import Testing

/// A message whose handling ends its consumer's process or connection every time (a crash, not a
/// thrown error) rolls back its own claim, and so cannot have its failure recorded as a thrown
/// error can. Consumers count such handlings after they start and after a batch ended with its
/// connection (see `BusConsumer`'s counted handlings).
@Suite("Counted handlings", .timeLimit(.minutes(3)))
struct CountedHandlingTests {
    @Test func aMessageWhoseHandlingEndsItsConnectionEveryTimeEndsInTheDeadLettersAndTheOthersGoThrough() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                let before = MessageBusTests.message(), poison = MessageBusTests.message(), after = MessageBusTests.message()
                let handler = SessionEndingHandler(ending: poison.envelope.messageID, client: client)
                try await MessageBusTests.publish([before, poison, after], client: client, logger: logger)
                let configuration = ConsumerConfiguration(
                    queue: .inventory, maxAttempts: 3, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                    batchTimeout: .seconds(10))
                try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                    let deadLettered = try await eventually {
                        try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1
                    }
                    #expect(deadLettered)
                    #expect(try await eventually { handler.recorder.counts[after.envelope.messageID] == 1 })
                }
                // Counted from the start: the handler ran as many times as maxAttempts allows, and
                // not once more; the message behind it went through after it, once.
                #expect(handler.recorder.counts[poison.envelope.messageID] == 3)
                #expect(handler.recorder.counts[before.envelope.messageID] == 1)
                #expect(handler.recorder.counts[after.envelope.messageID] == 1)
                let rows = try await client.query("SELECT id, error FROM bus.dead_letters", logger: logger)
                for try await (id, error) in rows.decode((UUID, String).self) {
                    #expect(id == poison.envelope.messageID)
                    #expect(error.contains("interrupted 3 times"), "\(error)")
                }
                #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
                // Each interruption counted once, by the counted handling after it.
                #expect(MetricsTests.value(#"eventicket_bus_interrupted_handlings_total{queue="inventory"}"#, in: export) == 3)
            }
        }
    }

    @Test func aCrashIsBlamedOnTheCountedHandlingAloneNotOnTheOtherHandlingsOfItsProcess() async throws {
        try await TestSystem.withDatabase { client, logger in
            // One process consumes two queues. Handling the poison ends every session of the
            // process that is in a transaction, as a crash would; the other queue's handlings
            // are slow, so one is always in progress unless the gate holds it back.
            let poison = MessageBusTests.message()
            let crashing = SessionEndingHandler(ending: poison.envelope.messageID, client: client, everyTransaction: true)
            let slow = SlowHandler(delay: .milliseconds(300))
            let invoices = (0..<3).map { _ in OutgoingMessage(CancelInvoice(orderID: UUID()), sagaID: UUID()) }
            try await MessageBusTests.publish([poison] + invoices, client: client, logger: logger)
            let process = HandlingGate()
            try await Self.consuming([(.inventory, crashing, process), (.invoicing, slow, process)], client: client, logger: logger) {
                let settled = try await eventually {
                    let dead = try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger)
                    return dead == 1 && slow.recorder.counts.count == invoices.count
                }
                #expect(settled)
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(crashing.recorder.counts[poison.envelope.messageID] == 3)
            #expect(slow.recorder.counts.values.allSatisfy { $0 == 1 }, "\(slow.recorder.counts)")
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters WHERE queue = 'invoicing'", client: client, logger: logger) == 0)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
        }
    }

    @Test func afterAStartAConsumerHandlesMessagesOneAtATimeUntilItsQueueIsEmptyThenWholeBatches() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = BatchRecordingHandler()
            let queued = (0..<4).map { _ in MessageBusTests.message() }
            try await MessageBusTests.publish(queued, client: client, logger: logger)
            let configuration = ConsumerConfiguration(queue: .inventory, pollInterval: .milliseconds(100), concurrency: 1)
            try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                #expect(try await eventually { handler.batches.count == 4 })
                // Its next counted claim finds nothing queued, within microseconds of the last
                // commit: counting ends there (a second is ample, even on a loaded machine).
                try await Task.sleep(for: .seconds(1))
                let later = (0..<10).map { _ in MessageBusTests.message() }
                try await MessageBusTests.publish(later, client: client, logger: logger)
                #expect(try await eventually { handler.batches.count == 5 })
                #expect(handler.batches.last == later.map(\.envelope.messageID))
            }
            // Counted, one at a time, in the order they were published.
            #expect(handler.batches.prefix(4).map { $0 } == queued.map { [$0.envelope.messageID] })
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
        }
    }

    @Test func aMessageThatAConsumerInAnotherProcessCountedJustNowIsLeftToItUntilItsLeaseRunsOut() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) {
            try await TestSystem.withDatabase { client, logger in
                let handler = BatchRecordingHandler()
                let queued = (0..<3).map { _ in MessageBusTests.message() }
                try await MessageBusTests.publish(queued, client: client, logger: logger)
                // A consumer in another process has just counted the oldest: it is about to claim it.
                let leased = queued[0].envelope.messageID
                _ = try await client.query(
                    "UPDATE bus.messages SET interruptions = 1, counted_at = now() WHERE id = \(leased)", logger: logger
                ).collect()
                // A lease long enough for the consumer to start and handle the other two within
                // it on a slow, loaded machine.
                let configuration = ConsumerConfiguration(
                    queue: .inventory, pollInterval: .milliseconds(100), concurrency: 1, countingLease: .seconds(10))
                let started = ContinuousClock.now
                let handledAll = Mutex<ContinuousClock.Instant?>(nil)
                try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                    let handled = try await eventually { handler.batches.count == queued.count }
                    #expect(handled)
                    handledAll.withLock { $0 = .now }
                }
                // The others first, counted one at a time; the leased one once its lease ran out
                // (its counter never claimed it: an interrupted handling, counted once), still
                // counted rather than in a batch.
                #expect(handler.batches == [[queued[1].envelope.messageID], [queued[2].envelope.messageID], [leased]])
                let end = try #require(handledAll.withLock { $0 })
                #expect(end - started >= .milliseconds(9500))
                #expect(MetricsTests.value(#"eventicket_bus_interrupted_handlings_total{queue="inventory"}"#, in: export) == 1)
                #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
            }
        }
    }

    @Test func aHandlingThatWaitsPastTheLockTimeoutTakesItsCountBack() async throws {
        try await TestSystem.withDatabase { client, logger in
            let blocked = MessageBusTests.message()
            let handler = LockingHandler()
            try await MessageBusTests.publish([blocked], client: client, logger: logger)
            let configuration = ConsumerConfiguration(queue: .inventory, pollInterval: .milliseconds(100), concurrency: 1)
            try await client.withConnection { holder in
                // Another session holds the row the handler needs, past the handler's lock timeout.
                _ = try await holder.query("BEGIN", logger: logger).collect()
                _ = try await holder.query("SELECT pg_advisory_xact_lock(42)", logger: logger).collect()
                try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                    let postponed = try await eventually {
                        try await TestSystem.scalar(
                            "SELECT count(*)::int FROM bus.messages WHERE visible_at > now() + interval '5 seconds' AND last_error LIKE '%lock timeout%'",
                            client: client, logger: logger) == 1
                    }
                    #expect(postponed)
                }
                _ = try await holder.query("ROLLBACK", logger: logger).collect()
            }
            #expect(handler.attempts.withLock { $0 } == 1)
            // Postponed, not counted: waiting for a lock is not an interrupted handling.
            #expect(try await TestSystem.scalar("SELECT interruptions FROM bus.messages", client: client, logger: logger) == 0)
        }
    }
}

extension CountedHandlingTests {
    /// Runs a consumer per entry (of its queue, with its handler, in the process of its gate;
    /// maxAttempts 3, one claim loop each) while `body` runs.
    static func consuming(
        _ consumers: [(Queue, any MessageHandler, HandlingGate)], client: PostgresClient, logger: Logger,
        _ body: () async throws -> Void
    ) async throws {
        let wakeups = Wakeups()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await BusListener(client: client, queues: Set(consumers.map(\.0.rawValue)).sorted(), wakeups: wakeups, logger: logger).run()
            }
            for (queue, handler, gate) in consumers {
                let configuration = ConsumerConfiguration(
                    queue: queue, maxAttempts: 3, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                    batchTimeout: .seconds(10))
                group.addTask {
                    try await BusConsumer(configuration: configuration, client: client, wakeups: wakeups, gate: gate, handler: handler,
                                          logger: logger).run()
                }
            }
            defer { group.cancelAll() }
            try await body()
        }
    }
}

/// Records every delivery, each after a delay inside its transaction.
final class SlowHandler: MessageHandler {
    let delay: Duration
    let recorder = RecordingHandler()

    init(delay: Duration) { self.delay = delay }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await Task.sleep(for: delay)
        return try await recorder.handle(envelope, connection: connection, logger: logger)
    }
}

/// Ends its own session (from another session, while it waits) when it handles the message it
/// is given, as a crash of its process would; with `everyTransaction`, every session of the
/// database that is in a transaction, as a crash of a process with several consumers would.
/// Records every delivery.
final class SessionEndingHandler: MessageHandler {
    let ending: UUID
    let client: PostgresClient
    let everyTransaction: Bool
    let recorder = RecordingHandler()

    init(ending: UUID, client: PostgresClient, everyTransaction: Bool = false) {
        self.ending = ending
        self.client = client
        self.everyTransaction = everyTransaction
    }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        _ = try await recorder.handle(envelope, connection: connection, logger: logger)
        guard envelope.messageID == ending else { return [] }
        var pid: Int32 = 0
        for try await value in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { pid = value }
        if everyTransaction {
            _ = try await client.query(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'",
                logger: logger).collect()
        } else {
            _ = try await client.query("SELECT pg_terminate_backend(\(pid), 10000)", logger: logger).collect()
        }
        // The session is gone and its transaction rolled back. postgres-nio may never answer the
        // next query on this connection (the watchdog ends that wait after its timeout, with
        // this error): fail as that would, without the wait.
        throw StalledConnectionError(work: "a test's handling of message \(envelope.messageID)")
    }
}

/// Records the ids of each batch it is given.
final class BatchRecordingHandler: MessageHandler {
    private let recorded = Mutex<[[UUID]]>([])

    var batches: [[UUID]] { recorded.withLock { $0 } }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        recorded.withLock { $0.append(envelopes.map(\.messageID)) }
        return []
    }
}

/// Waits for advisory lock 42 with a short lock timeout, as a handler waits for a row.
final class LockingHandler: MessageHandler {
    let attempts = Mutex(0)

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        attempts.withLock { $0 += 1 }
        _ = try await connection.query("SET LOCAL lock_timeout = '200ms'", logger: logger).collect()
        _ = try await connection.query("SELECT pg_advisory_xact_lock(42)", logger: logger).collect()
        return []
    }
}
