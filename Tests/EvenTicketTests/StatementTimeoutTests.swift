import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import PostgresNIO
import Synchronization
import Testing

/// A message whose handler always runs past the statement timeout holds up neither the messages
/// of its batch nor the rest of its queue, and ends in the dead letters. These are about batches:
/// their consumers claim whole batches from the start (`countedHandlings: 0`).
@Suite("Statement timeouts", .timeLimit(.minutes(3)))
struct StatementTimeoutTests {
    @Test func aMessageThatAlwaysRunsPastTheStatementTimeoutIsDeadLetteredAndItsBatchGoesThrough() async throws {
        try await TestSystem.withDatabase { client, logger in
            let slow = MessageBusTests.message()
            let others = (0..<10).map { _ in MessageBusTests.message() }
            let handler = SlowOnOneHandler(slow: [slow.envelope.messageID])
            // One batch: the slow message first, then ten that are quick.
            try await MessageBusTests.publish([slow] + others, client: client, logger: logger)
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 3, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                countedHandlings: 0)
            try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                // Before, the batch rolled back at the timeout and was claimed again whole, for
                // ever: neither the others nor the slow message's failures were ever recorded.
                let othersCommitted = try await eventually(timeout: .seconds(20)) {
                    try await TestSystem.scalar(
                        "SELECT count(*)::int FROM bus.processed_messages WHERE message_id = ANY(\(others.map(\.envelope.messageID)))",
                        client: client, logger: logger) == 10
                }
                #expect(othersCommitted)
                let deadLettered = try await eventually(timeout: .seconds(20)) {
                    try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger) == 1
                }
                #expect(deadLettered)
            }
            let rows = try await client.query("SELECT id, attempts, error FROM bus.dead_letters", logger: logger)
            for try await (id, attempts, error) in rows.decode((UUID, Int, String).self) {
                #expect(id == slow.envelope.messageID)
                #expect(attempts == 3, "each delivery counted once")
                #expect(error.contains("statement timeout"), "\(error)")
            }
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger) == 0)
            #expect(handler.recorder.counts[slow.envelope.messageID] == nil, "the slow message never finished its handler")
            // Its batch, alone once, then two batches of one, each counted at once: had any
            // delivery been counted twice, it would have been dead-lettered sooner.
            #expect(handler.slowStarts == 4)
        }
    }

    @Test func aMessageRunningPastTheStatementTimeoutWhileAFailedBatchIsTakenApartIsCountedToo() async throws {
        try await TestSystem.withDatabase { client, logger in
            // The first message throws, so the batch is taken apart message by message on the
            // loop's own connection; the second then runs past the timeout there, which closes
            // that connection once its failure is recorded.
            let failing = MessageBusTests.message()
            let slow = MessageBusTests.message()
            let others = (0..<10).map { _ in MessageBusTests.message() }
            let handler = SlowOnOneHandler(slow: [slow.envelope.messageID], failing: failing.envelope.messageID)
            try await MessageBusTests.publish([failing, slow] + others, client: client, logger: logger)
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 2, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                countedHandlings: 0)
            try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                let settled = try await eventually(timeout: .seconds(20)) {
                    let dead = try await TestSystem.scalar("SELECT count(*)::int FROM bus.dead_letters", client: client, logger: logger)
                    let queued = try await TestSystem.scalar("SELECT count(*)::int FROM bus.messages", client: client, logger: logger)
                    return dead == 2 && queued == 0
                }
                #expect(settled)
            }
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.processed_messages WHERE message_id = ANY(\(others.map(\.envelope.messageID)))",
                client: client, logger: logger) == 10)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.dead_letters WHERE id = \(slow.envelope.messageID) AND attempts = 2 AND error LIKE '%statement timeout%'",
                client: client, logger: logger) == 1)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM bus.dead_letters WHERE id = \(failing.envelope.messageID) AND attempts = 2 AND error LIKE '%refused%'",
                client: client, logger: logger) == 1)
        }
    }
}

extension StatementTimeoutTests {
    @Test func afterTwoMessagesInARowRunPastTheTimeoutAloneTheRestOfTheBatchIsLeftQueuedUncounted() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Three slow messages at the head of a batch: as when the server itself is slow.
            let slow = (0..<3).map { _ in MessageBusTests.message() }
            let quick = (0..<5).map { _ in MessageBusTests.message() }
            let handler = SlowOnOneHandler(slow: Set(slow.map(\.envelope.messageID)))
            try await MessageBusTests.publish(slow + quick, client: client, logger: logger)
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 5, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1,
                countedHandlings: 0)
            func attempts(_ message: OutgoingMessage) async throws -> Int {
                try await TestSystem.scalar("SELECT attempts FROM bus.messages WHERE id = \(message.envelope.messageID)",
                                            client: client, logger: logger)
            }
            try await MessageBusTests.consuming(handler, client: client, logger: logger, configuration: configuration) {
                let firstTwoCounted = try await eventually(timeout: .seconds(10), every: .milliseconds(10)) {
                    let (first, second) = (try await attempts(slow[0]), try await attempts(slow[1]))
                    return first == 1 && second == 1
                }
                #expect(firstTwoCounted)
                // The loop pauses for 5 s; before, it went on through the batch, 200 ms for the
                // third slow message, then the quick ones.
                try await Task.sleep(for: .seconds(1))
                #expect(try await attempts(slow[2]) == 0, "not counted")
                #expect(handler.recorder.counts.isEmpty, "the quick ones wait for the next claim")
            }
        }
    }
}

/// Runs past a 200 ms statement timeout on some messages, throws on another (if given); records
/// the others.
final class SlowOnOneHandler: MessageHandler {
    let slow: Set<UUID>
    let failing: UUID?
    let recorder = RecordingHandler()
    private let starts = Mutex(0)

    init(slow: Set<UUID>, failing: UUID? = nil) {
        self.slow = slow
        self.failing = failing
    }

    /// How many times a slow message's handler started.
    var slowStarts: Int { starts.withLock { $0 } }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        if envelope.messageID == failing { throw RecordingHandler.TestFailure(description: "refused") }
        if slow.contains(envelope.messageID) {
            starts.withLock { $0 += 1 }
            _ = try await connection.query("SET LOCAL statement_timeout = '200ms'", logger: logger).collect()
            _ = try await connection.query("SELECT pg_sleep(5)", logger: logger).collect()
        }
        return try await recorder.handle(envelope, connection: connection, logger: logger)
    }
}
