import Database
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import PostgresNIO
import Synchronization
import Testing

/// Counts deliveries per message id; optionally fails every time.
final class RecordingHandler: MessageHandler {
    let deliveries = Mutex<[UUID: Int]>([:])
    let failure: String?

    init(failingWith failure: String? = nil) { self.failure = failure }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        deliveries.withLock { $0[envelope.messageID, default: 0] += 1 }
        if let failure { throw TestFailure(description: failure) }
        return []
    }

    var counts: [UUID: Int] { deliveries.withLock { $0 } }

    struct TestFailure: Error, CustomStringConvertible { var description: String }
}

@Suite("Message bus", .timeLimit(.minutes(3)))
struct MessageBusTests {
    static func message(_ n: Int = 0) -> OutgoingMessage {
        OutgoingMessage(ReleaseTickets(orderID: UUID()), sagaID: UUID())
    }

    static func publish(_ messages: [OutgoingMessage], client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await MessagePublisher.publish(messages, notifyAtCommit: true, on: connection, logger: logger)
        }
    }

    /// Runs a consumer of the inventory queue (plus the NOTIFY listener) while `body` runs.
    static func consuming(
        _ handler: some MessageHandler, client: PostgresClient, logger: Logger,
        configuration: ConsumerConfiguration = .init(queue: .inventory, retryBase: .milliseconds(10), pollInterval: .milliseconds(200)),
        consumers: Int = 1,
        _ body: () async throws -> Void
    ) async throws {
        // One process's: its consumers share them.
        let wakeups = Wakeups(), gate = HandlingGate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await BusListener(client: client, queues: [configuration.queue.rawValue], wakeups: wakeups, logger: logger).run() }
            for _ in 0..<consumers {
                group.addTask {
                    try await BusConsumer(configuration: configuration, client: client, wakeups: wakeups, gate: gate, handler: handler, logger: logger).run()
                }
            }
            defer { group.cancelAll() }
            try await body()
        }
    }

    @Test func aCommitWakesTheListenersOfTheQueuesItPublishedToAndNoOthers() async throws {
        try await TestSystem.withDatabase { client, logger in
            let wakeups = Wakeups()
            let (inventory, payment) = (Queue.inventory.rawValue, Queue.payment.rawValue)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await BusListener(client: client, queues: [inventory, payment], wakeups: wakeups, logger: logger).run() }
                defer { group.cancelAll() }
                // The listener wakes everyone once its LISTENs are acknowledged.
                #expect(try await eventually { wakeups.generation(of: inventory) > 0 })
                let before = (inventory: wakeups.generation(of: inventory), payment: wakeups.generation(of: payment))
                try await Self.publish([Self.message()], client: client, logger: logger)
                #expect(try await eventually { wakeups.generation(of: inventory) > before.inventory })
                #expect(wakeups.generation(of: payment) == before.payment)
            }
        }
    }

    /// Runs a notifier for a publishing process, and a listener standing for another process,
    /// while `body` runs, once the listener listens. The notifier sends through `notifierClient`
    /// (run here) when one is given, else through `client`.
    static func notifying(
        client: PostgresClient, notifierClient: PostgresClient? = nil, logger: Logger,
        _ body: (_ publisher: Wakeups, _ elsewhere: Wakeups) async throws -> Void
    ) async throws {
        let notifier = BusNotifier(client: notifierClient ?? client, logger: logger)
        let publisher = Wakeups(notifier: notifier)
        let elsewhere = Wakeups()
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let notifierClient { group.addTask { await notifierClient.run() } }
            group.addTask { try await notifier.run() }
            group.addTask {
                try await BusListener(client: client, queues: [Queue.inventory.rawValue, Queue.payment.rawValue], wakeups: elsewhere,
                                      logger: logger).run()
            }
            defer { group.cancelAll() }
            #expect(try await eventually { elsewhere.generation(of: Queue.inventory.rawValue) > 0 })
            try await body(publisher, elsewhere)
        }
    }

    @Test func withANotifierTheCommitNotifiesNobodyAndTheNotifierWakesOtherProcessesAfterIt() async throws {
        try await TestSystem.withDatabase { client, logger in
            try await Self.notifying(client: client, logger: logger) { publisher, elsewhere in
                let inventory = Queue.inventory.rawValue
                let message = Self.message()
                // Once the notifier holds its connection.
                #expect(try await eventually { !publisher.notifiesAtCommit })
                let before = (here: publisher.generation(of: inventory), elsewhere: elsewhere.generation(of: inventory))
                try await client.withTransaction(logger: logger) { connection in
                    try await MessagePublisher.publish([message], notifyAtCommit: publisher.notifiesAtCommit, on: connection, logger: logger)
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(elsewhere.generation(of: inventory) == before.elsewhere, "the commit itself notified nobody")
                publisher.committed([message])
                #expect(publisher.generation(of: inventory) > before.here, "this process's consumers are woken at once")
                #expect(try await eventually { elsewhere.generation(of: inventory) > before.elsewhere })
            }
        }
    }

    @Test func aConsumerWithANotifierWakesTheOtherProcessesOfTheQueuesItPublishedToAfterItsCommit() async throws {
        /// Answers each message with one for the payment queue.
        struct Forwarding: MessageHandler {
            func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
                [OutgoingMessage(envelope: MessageBusTests.message().envelope, queue: .payment)]
            }
        }
        try await TestSystem.withDatabase { client, logger in
            try await Self.notifying(client: client, logger: logger) { publisher, elsewhere in
                let payment = Queue.payment.rawValue
                let before = elsewhere.generation(of: payment)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await BusConsumer(configuration: .init(queue: .inventory, pollInterval: .milliseconds(100)), client: client,
                                              wakeups: publisher, gate: HandlingGate(), handler: Forwarding(), logger: logger).run()
                    }
                    defer { group.cancelAll() }
                    try await Self.publish([Self.message()], client: client, logger: logger)
                    #expect(try await eventually {
                        try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'payment'", client: client, logger: logger) == 1
                    })
                    #expect(try await eventually { elsewhere.generation(of: payment) > before })
                }
            }
        }
    }

    @Test func whileItsNotifierHasNoConnectionTheCommitNotifiesTheOtherProcesses() async throws {
        try await TestSystem.withDatabase { client, logger in
            // A notifier whose server cannot be reached: no socket at that path.
            let unreachable = PostgresClient(
                configuration: .init(unixSocketPath: "/nonexistent/.s.PGSQL.5432", username: "eventicket", password: nil, database: "eventicket"),
                backgroundLogger: logger)
            try await Self.notifying(client: client, notifierClient: unreachable, logger: logger) { publisher, elsewhere in
                let inventory = Queue.inventory.rawValue
                let message = Self.message()
                #expect(publisher.notifier?.isConnected == false)
                #expect(publisher.notifiesAtCommit)
                let before = elsewhere.generation(of: inventory)
                try await client.withTransaction(logger: logger) { connection in
                    try await MessagePublisher.publish([message], notifyAtCommit: publisher.notifiesAtCommit, on: connection, logger: logger)
                }
                publisher.committed([message])
                #expect(try await eventually { elsewhere.generation(of: inventory) > before }, "woken by the commit, not after a poll")
            }
        }
    }

    @Test func theNotifierGoesOnOnAnotherConnectionWhenTheServerEndsItsSession() async throws {
        try await TestSystem.withDatabase { client, logger in
            try await Self.notifying(client: client, logger: logger) { publisher, elsewhere in
                let inventory = Queue.inventory.rawValue
                let first = elsewhere.generation(of: inventory)
                publisher.committed([Self.message()])
                #expect(try await eventually { elsewhere.generation(of: inventory) > first })
                let notifierSessions = """
                    SELECT count(pg_terminate_backend(pid, 10000))::int FROM pg_stat_activity
                     WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE '%FROM unnest($1::text[]) AS q) AS sent%'
                    """
                #expect(try await TestSystem.scalar(PostgresQuery(unsafeSQL: notifierSessions), client: client, logger: logger) == 1)
                let second = elsewhere.generation(of: inventory)
                publisher.committed([Self.message()])
                #expect(try await eventually { elsewhere.generation(of: inventory) > second })
                #expect(publisher.notifier?.isConnected == true, "connected again")
                // A delayed message wakes nobody: its consumers' poll finds it.
                let third = elsewhere.generation(of: inventory)
                publisher.committed([OutgoingMessage(ReleaseTickets(orderID: UUID()), sagaID: UUID(), delay: .seconds(5))])
                try await Task.sleep(for: .milliseconds(300))
                #expect(elsewhere.generation(of: inventory) == third)
            }
        }
    }

    @Test func aMessagePublishedInARolledBackTransactionIsNeverDelivered() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = RecordingHandler()
            let rolledBack = Self.message()
            let committed = Self.message()
            struct Abort: Error {}
            await #expect(throws: (any Error).self) {
                try await client.withTransaction(logger: logger) { connection in
                    try await MessagePublisher.publish([rolledBack], notifyAtCommit: true, on: connection, logger: logger)
                    throw Abort()
                }
            }
            try await Self.publish([committed], client: client, logger: logger)
            try await Self.consuming(handler, client: client, logger: logger) {
                #expect(try await eventually { handler.counts[committed.envelope.messageID] == 1 })
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(handler.counts[rolledBack.envelope.messageID] == nil)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
        }
    }

    @Test func aDeadConsumersMessagesComeBackAtOnceAndAreHandledOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            let messages = (0..<10).map(Self.message)
            try await Self.publish(messages, client: client, logger: logger)
            // A consumer claims the batch in its transaction and dies (its session is killed)
            // before committing. It is killed from another session, while it waits: a query
            // on a connection whose backend ends under it may never be answered by postgres-nio.
            let claimed = try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger).collect()
                let batch = try await QueueStore().claim(queue: .inventory, consumer: "inventory", limit: 10, on: connection, logger: logger)
                #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE id IN (SELECT id FROM bus.messages FOR UPDATE SKIP LOCKED)", client: client, logger: logger) == 0,
                        "claimed messages are invisible to other consumers")
                var pid: Int32 = 0
                for try await value in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { pid = value }
                #expect(try await TestSystem.scalar("SELECT pg_terminate_backend(\(pid), 10000)::int", client: client, logger: logger) == 1,
                        "the consumer's session is gone")
                return batch.count
            }
            #expect(claimed == 10)
            let handler = RecordingHandler()
            try await Self.consuming(handler, client: client, logger: logger, consumers: 2) {
                #expect(try await eventually { handler.counts.count == 10 })
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(handler.counts.values.allSatisfy { $0 == 1 }, "\(handler.counts)")
            #expect(Set(handler.counts.keys) == Set(messages.map(\.envelope.messageID)))
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
        }
    }

    @Test func aConsumerWhoseIdleConnectionIsEndedGoesOnOnAnotherAtOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = RecordingHandler()
            let first = Self.message(), second = Self.message()
            // Longer than the test's patience: a consumer left waiting on its dead connection
            // would be rescued only by this watchdog.
            let configuration = ConsumerConfiguration(
                queue: .inventory, retryBase: .milliseconds(10), pollInterval: .milliseconds(200), batchTimeout: .seconds(60))
            try await Self.consuming(handler, client: client, logger: logger, configuration: configuration) {
                try await Self.publish([first], client: client, logger: logger)
                #expect(try await eventually { handler.counts[first.envelope.messageID] == 1 })
                // Once the consumer's loops are idle between batches (the handler counted the
                // message before its commit, and a loop that had a query in flight when its session
                // ended could wait for the watchdog), the server ends every other session (the
                // consumer's and the listener's) while they wait.
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await eventually {
                    try await TestSystem.scalar(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'",
                        client: client, logger: logger) == 0
                })
                #expect(try await TestSystem.scalar(
                    "SELECT (count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)))::int FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    client: client, logger: logger) >= 1)
                try await Self.publish([second], client: client, logger: logger)
                #expect(try await eventually(timeout: .seconds(15)) { handler.counts[second.envelope.messageID] == 1 })
            }
        }
    }

    @Test func competingConsumersHandleEveryMessageExactlyOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            let messages = (0..<300).map(Self.message)
            let handler = RecordingHandler()
            try await Self.consuming(handler, client: client, logger: logger, consumers: 4) {
                for chunk in stride(from: 0, to: messages.count, by: 30) {
                    try await Self.publish(Array(messages[chunk..<chunk + 30]), client: client, logger: logger)
                }
                #expect(try await eventually { handler.counts.count == messages.count })
            }
            #expect(handler.counts.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func aHandlerThatAlwaysThrowsEndsInTheDeadLettersWithItsError() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = RecordingHandler(failingWith: "card reader on fire")
            let poison = Self.message()
            try await Self.publish([poison], client: client, logger: logger)
            // Headers another writer stored, not an object of strings: each retry and the dead
            // letter keep them as they were.
            let headers = #"{"retries": 3}"#
            _ = try await client.query("UPDATE bus.messages SET headers = \(headers)", logger: logger).collect()
            // Whole batches from the start: counted handlings (one at a time) are tested apart.
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 3, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                countedHandlings: 0)
            try await Self.consuming(handler, client: client, logger: logger, configuration: configuration) {
                let deadLettered = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1
                }
                #expect(deadLettered)
            }
            // Each of the 3 deliveries: the batch (of one) that rolls back, then the careful
            // pass alone that records the failure.
            #expect(handler.counts[poison.envelope.messageID] == 6)
            let rows = try await client.query(
                "SELECT id, attempts, error, type, headers FROM bus.dead_letters", logger: logger)
            for try await (id, attempts, error, type, stored) in rows.decode((UUID, Int, String, String, String).self) {
                #expect(id == poison.envelope.messageID)
                #expect(stored == headers)
                #expect(attempts == 3)
                #expect(error.contains("card reader on fire"))
                #expect(type == ReleaseTickets.typeName)
            }
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
        }
    }

    @Test func poisonDoesNotBlockTheQueue() async throws {
        try await TestSystem.withDatabase { client, logger in
            // An undecodable message of an unknown type goes to the dead letters at once,
            // and the messages behind it are delivered.
            _ = try await client.query(
                """
                INSERT INTO bus.messages (id, queue, type, saga_id, payload)
                VALUES (gen_random_uuid(), 'inventory', 'Gibberish.v9', gen_random_uuid(), '{"what": true}')
                """, logger: logger).collect()
            let next = Self.message()
            try await Self.publish([next], client: client, logger: logger)
            let dead = RecordingHandler()
            let handler = UnknownTypeRejectingHandler(inner: dead)
            let wakeups = Wakeups()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await BusConsumer(configuration: .init(queue: .inventory, pollInterval: .milliseconds(100)), client: client,
                                          wakeups: wakeups, gate: HandlingGate(), handler: handler, logger: logger).run()
                }
                defer { group.cancelAll() }
                #expect(try await eventually { dead.counts[next.envelope.messageID] == 1 })
                let poisonDeadLettered = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters WHERE type = 'Gibberish.v9' AND attempts = 1", client: client, logger: logger) == 1
                }
                #expect(poisonDeadLettered)
            }
        }
    }

    @Test func aPayloadThatIsNotJSONIsDeadLetteredAtOnceAsItWasWrittenHeadersIncluded() async throws {
        try await TestSystem.withDatabase { client, logger in
            // The bus stores payloads as text and never parses them: a broken one reaches its
            // consumer, whose decoding fails for good, and lands in the dead letters unchanged.
            let broken = #"{"orderID": "not closed"#
            // Headers another writer stored, not an object of strings: kept as they were too
            // (they were written back as "{}" before).
            let headers = #"{"retries": 3, "trace": {"id": "x"}}"#
            _ = try await client.query(
                """
                INSERT INTO bus.messages (id, queue, type, saga_id, payload, headers)
                VALUES (gen_random_uuid(), 'inventory', \(ReleaseTickets.typeName), gen_random_uuid(), \(broken), \(headers))
                """, logger: logger).collect()
            let next = Self.message()
            try await Self.publish([next], client: client, logger: logger)
            let decoded = RecordingHandler()
            let handler = DecodingHandler(inner: decoded)
            let configuration = ConsumerConfiguration(queue: .inventory, maxAttempts: 5, pollInterval: .milliseconds(100))
            try await Self.consuming(handler, client: client, logger: logger, configuration: configuration) {
                #expect(try await eventually { decoded.counts[next.envelope.messageID] == 1 })
                let deadLettered = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1
                }
                #expect(deadLettered)
            }
            let rows = try await client.query("SELECT payload, headers, attempts FROM bus.dead_letters", logger: logger)
            for try await (payload, stored, attempts) in rows.decode((String, String, Int).self) {
                #expect(payload == broken)
                #expect(stored == headers)
                #expect(attempts == 1)
            }
        }
    }

    @Test func aDeadLetterAndAQueuedCopyOfItsMessageLoseNeither() async throws {
        try await TestSystem.withDatabase { client, logger in
            let id = UUID()
            let broken = #"{"orderID": "not closed"#
            _ = try await client.query(
                """
                INSERT INTO bus.dead_letters (id, queue, type, saga_id, payload, headers, created_at, attempts, error)
                VALUES (\(id), 'inventory', \(ReleaseTickets.typeName), gen_random_uuid(), \(broken), '{}', now(), 5, 'the first death')
                """, logger: logger).collect()
            _ = try await client.query(
                """
                INSERT INTO bus.messages (id, queue, type, saga_id, payload)
                VALUES (\(id), 'inventory', \(ReleaseTickets.typeName), gen_random_uuid(), \(broken))
                """, logger: logger).collect()
            // A retry would put the dead letter back under the id that is queued: it stays a
            // dead letter (it was deleted, and the queued copy alone remained).
            let deadLetters = DeadLetters(client: client)
            #expect(try await deadLetters.retry(nil, logger: logger) == 0)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1)
            // The queued copy dies too: the dead letter records its death (it was dropped).
            let handler = DecodingHandler(inner: RecordingHandler())
            let configuration = ConsumerConfiguration(queue: .inventory, maxAttempts: 5, pollInterval: .milliseconds(100))
            try await Self.consuming(handler, client: client, logger: logger, configuration: configuration) {
                let consumed = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0
                }
                #expect(consumed)
            }
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.dead_letters WHERE attempts = 1 AND error <> 'the first death'", client: client, logger: logger) == 1)
            // With no copy queued, the retry moves it.
            #expect(try await deadLetters.retry(nil, logger: logger) == 1)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 0)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE id = \(id)", client: client, logger: logger) == 1)
        }
    }

    @Test func aDelayedMessageIsNotDeliveredEarly() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = RecordingHandler()
            let delayed = OutgoingMessage(ReleaseTickets(orderID: UUID()), sagaID: UUID(), delay: .seconds(3))
            try await Self.consuming(handler, client: client, logger: logger) {
                // The server's clock before the publish: the claim's must be 3 s past it.
                let before = try #require(try await client.query("SELECT clock_timestamp()", logger: logger).decode(Date.self).lastElement())
                let published = ContinuousClock.now
                try await Self.publish([delayed], client: client, logger: logger)
                try await Task.sleep(for: .seconds(1))
                // Unless this machine stalled this test past the delay, nothing has come yet.
                if ContinuousClock.now - published < .milliseconds(2900) {
                    #expect(handler.counts.isEmpty, "delivered before its time")
                }
                #expect(try await eventually(timeout: .seconds(15)) { handler.counts[delayed.envelope.messageID] == 1 })
                let claimedAfter = try await TestSystem.scalar(
                    "SELECT (extract(epoch FROM processed_at - \(before)) * 1000)::int FROM bus.processed_messages WHERE message_id = \(delayed.envelope.messageID)",
                    client: client, logger: logger)
                #expect(claimedAfter >= 3000, "claimed \(claimedAfter) ms after the publish began, before its 3 s delay")
            }
        }
    }

    @Test func finalWritesCommitWithTheMessagesTheyArePublishedWithOrNotAtAll() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Each batch leaves one write to the publishing statement: a row under a fixed key.
            // The first batch's row and message commit together; the second batch's write hits
            // the key, so its message is never published, and it ends in the dead letters.
            let key = UUID()
            let handler = MarkingHandler(key: key)
            let configuration = ConsumerConfiguration(queue: .inventory, maxAttempts: 2, retryBase: .milliseconds(10), pollInterval: .milliseconds(100))
            let (first, second) = (Self.message(), Self.message())
            try await Self.consuming(handler, client: client, logger: logger, configuration: configuration) {
                try await Self.publish([first], client: client, logger: logger)
                let published = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'payment'", client: client, logger: logger) == 1
                }
                #expect(published)
                try await Self.publish([second], client: client, logger: logger)
                let deadLettered = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1
                }
                #expect(deadLettered)
            }
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.processed_messages WHERE consumer = 'final-writes-test'", client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages WHERE queue = 'payment'", client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.dead_letters WHERE error LIKE '%duplicate key%'", client: client, logger: logger) == 1)
            #expect(handler.batches.withLock { $0 } >= 3)
        }
    }

    @Test func aRedeliveredMessageIDIsRecognisedAndSkipped() async throws {
        try await TestSystem.withDatabase { client, logger in
            let handler = RecordingHandler()
            let message = Self.message()
            try await Self.consuming(handler, client: client, logger: logger) {
                try await Self.publish([message], client: client, logger: logger)
                #expect(try await eventually { handler.counts[message.envelope.messageID] == 1 })
                // The same message arrives again (a producer retried its publish).
                try await Self.publish([message], client: client, logger: logger)
                let drained = try await eventually {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0
                }
                #expect(drained)
            }
            #expect(handler.counts[message.envelope.messageID] == 1)
        }
    }
}

/// Rejects unknown types the way the services' handlers do, and records the rest.
/// Answers each message with a `RefundPayment`, and leaves one write to the publishing statement:
/// a ledger row under a fixed key, which only the first batch can add.
final class MarkingHandler: BatchOnlyHandler {
    let key: UUID
    let batches = Mutex(0)

    init(key: UUID) { self.key = key }

    struct Mark: FinalWrites {
        static let ctes = "marked AS (INSERT INTO bus.processed_messages (consumer, message_id) VALUES ('final-writes-test', $1))"
        static let parameterCount = 1
        var key: UUID
        func appendBindings(to bindings: inout PostgresBindings) { bindings.append(key) }
    }

    func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        batches.withLock { $0 += 1 }
        return HandledBatch(messages: envelopes.map { OutgoingMessage(RefundPayment(orderID: UUID()), sagaID: $0.sagaID) },
                            finalWrites: Mark(key: key))
    }
}

/// Decodes each message as `ReleaseTickets`, as a participant does, before recording it.
struct DecodingHandler: MessageHandler {
    let inner: RecordingHandler

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        _ = try envelope.decode(ReleaseTickets.self)
        return try await inner.handle(envelope, connection: connection, logger: logger)
    }
}

struct UnknownTypeRejectingHandler: MessageHandler {
    let inner: RecordingHandler

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        guard envelope.typeName == ReleaseTickets.typeName else { throw PermanentFailure.unknownType(envelope, queue: .inventory) }
        return try await inner.handle(envelope, connection: connection, logger: logger)
    }
}

/// A handler that the consumer calls with whole batches only (`handleBatchDeferringWrites`).
protocol BatchOnlyHandler: MessageHandler {}

extension BatchOnlyHandler {
    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        Issue.record("the consumer calls handleBatchDeferringWrites")
        return []
    }
}
