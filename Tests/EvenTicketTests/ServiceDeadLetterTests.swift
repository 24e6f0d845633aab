import EvenTicketContracts
import EvenTicketTesting
import Foundation
import PostgresNIO
import Testing

/// Every service dead-letters what it cannot handle while acting as its own database role, as
/// the services run by default.
@Suite("Dead letters written by the services' roles", .timeLimit(.minutes(3)))
struct ServiceDeadLetterTests {
    @Test func everyServiceDeadLettersAMessageItCannotRead() async throws {
        try await TestSystem.run { system in
            // One message of an unknown type on each queue, and on the inventory queue one more
            // under the id of an existing dead letter: the upsert updates that record.
            let repeated = UUID()
            _ = try await system.client.query(
                """
                INSERT INTO bus.dead_letters (id, queue, type, saga_id, payload, headers, created_at, attempts, error)
                VALUES (\(repeated), 'inventory', 'Gibberish.v9', gen_random_uuid(), '{}', '{}', now(), 5, 'the first time')
                """, logger: system.logger).collect()
            var ids: [UUID] = [repeated]
            _ = try await system.client.query(
                """
                INSERT INTO bus.messages (id, queue, type, saga_id, payload)
                VALUES (\(repeated), 'inventory', 'Gibberish.v9', gen_random_uuid(), '{"again": true}')
                """, logger: system.logger).collect()
            for queue in Queue.allCases {
                let id = UUID()
                ids.append(id)
                _ = try await system.client.query(
                    """
                    INSERT INTO bus.messages (id, queue, type, saga_id, payload)
                    VALUES (\(id), \(queue.rawValue), 'Gibberish.v9', gen_random_uuid(), '{"what": true}')
                    """, logger: system.logger).collect()
            }
            let allDead = try await eventually(timeout: .seconds(30)) {
                try await system.scalar("SELECT count(*)::int FROM bus.dead_letters WHERE id = ANY(\(ids)) AND attempts = 1") == ids.count
            }
            var queues: [String] = []
            for try await queue in try await system.client.query(
                "SELECT queue FROM bus.dead_letters WHERE attempts = 1 ORDER BY queue", logger: system.logger).decode(String.self) {
                queues.append(queue)
            }
            #expect(allDead, "dead-lettered with one attempt: \(queues)")
            #expect(Set(queues) == Set(Queue.allCases.map(\.rawValue)))
            #expect(try await system.scalar("SELECT count(*)::int FROM bus.messages WHERE type = 'Gibberish.v9'") == 0)
            #expect(try await system.scalar(
                "SELECT count(*)::int FROM bus.dead_letters WHERE id = \(repeated) AND error <> 'the first time'") == 1)
        }
    }
}
