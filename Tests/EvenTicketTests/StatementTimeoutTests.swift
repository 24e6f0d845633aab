import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import PostgresNIO
import Testing

/// A message whose handler always runs past the statement timeout holds up neither the messages
/// of its batch nor the rest of its queue, and ends in the dead letters.
@Suite("Statement timeouts", .timeLimit(.minutes(3)))
struct StatementTimeoutTests {
    @Test func aMessageThatAlwaysRunsPastTheStatementTimeoutIsDeadLetteredAndItsBatchGoesThrough() async throws {
        try await TestSystem.withDatabase { client, logger in
            let slow = MessageBusTests.message()
            let others = (0..<10).map { _ in MessageBusTests.message() }
            let handler = SlowOnOneHandler(slow: slow.envelope.messageID)
            // One batch: the slow message first, then ten that are quick.
            try await MessageBusTests.publish([slow] + others, client: client, logger: logger)
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 3, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1)
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
            let handler = SlowOnOneHandler(slow: slow.envelope.messageID, failing: failing.envelope.messageID)
            try await MessageBusTests.publish([failing, slow] + others, client: client, logger: logger)
            let configuration = ConsumerConfiguration(
                queue: .inventory, maxAttempts: 2, retryBase: .milliseconds(10), pollInterval: .milliseconds(100), concurrency: 1)
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

/// Runs past a 200 ms statement timeout on one message, throws on another (if given); records
/// the others.
final class SlowOnOneHandler: MessageHandler {
    let slow: UUID
    let failing: UUID?
    let recorder = RecordingHandler()

    init(slow: UUID, failing: UUID? = nil) {
        self.slow = slow
        self.failing = failing
    }

    func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        if envelope.messageID == failing { throw RecordingHandler.TestFailure(description: "refused") }
        if envelope.messageID == slow {
            _ = try await connection.query("SET LOCAL statement_timeout = '200ms'", logger: logger).collect()
            _ = try await connection.query("SELECT pg_sleep(5)", logger: logger).collect()
        }
        return try await recorder.handle(envelope, connection: connection, logger: logger)
    }
}
