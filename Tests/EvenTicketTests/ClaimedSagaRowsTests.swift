import Database
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import MessageBus
import Orchestrator
import PostgresNIO
import Testing

/// A claim that also reads the handler's rows for the batch's sagas (the orchestrator's: its
/// sagas, locked).
@Suite("Claimed saga rows", .timeLimit(.minutes(2)))
struct ClaimedSagaRowsTests {
    static func lockedElsewhere(_ saga: UUID, client: PostgresClient, logger: Logger) async throws -> Bool {
        do {
            try await client.withConnection { connection in
                _ = try await connection.query("SELECT 1 FROM orchestrator.sagas WHERE id = \(saga) FOR UPDATE NOWAIT", logger: logger).collect()
            }
            return false
        } catch where error.sqlState == "55P03" {
            return true
        }
    }

    @Test func theOrchestratorsClaimReadsAndLocksTheSagasOfItsBatch() async throws {
        try await TestSystem.withDatabase { client, logger in
            let saga = UUID(), other = UUID(), missing = UUID()
            for id in [saga, other] {
                _ = try await client.query("""
                    INSERT INTO orchestrator.sagas (id, order_id, state, step, order_data, token)
                    VALUES (\(id), \(UUID()), 'running', 'reserveTickets', '{}', 1)
                    """, logger: logger).collect()
            }
            try await client.withTransaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: saga),
                     OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: saga),
                     OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: missing)],
                    on: connection, logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                let (messages, rows) = try await QueueStore().claim(
                    queue: .orchestrator, consumer: "orchestrator", limit: 10, with: SagaStatements.ClaimedSagas.self,
                    on: connection, logger: logger)
                #expect(messages.count == 3)
                // One row per saga that exists, whatever the number of its messages.
                #expect(Set(rows.keys) == [saga])
                // Held until the claiming transaction ends; a saga of no message of the batch is not.
                #expect(try await Self.lockedElsewhere(saga, client: client, logger: logger))
                #expect(try await !Self.lockedElsewhere(other, client: client, logger: logger))
            }
            #expect(try await !Self.lockedElsewhere(saga, client: client, logger: logger))
        }
    }
}
