import Database
import EvenTicketContracts
import EvenTicketTesting
import Foundation
@testable import Inventory
import Logging
import MessageBus
@testable import Orchestrator
@testable import Payment
import PostgresNIO
import Testing

/// A claim that also reads the handler's rows for the batch's sagas (the orchestrator's: its
/// sagas, locked).
@Suite("Claimed saga rows", .timeLimit(.minutes(2)))
struct ClaimedSagaRowsTests {
    /// Whether another transaction holds the lock on the row of `saga` in `table` (keyed by `column`).
    static func lockedElsewhere(_ saga: UUID, in table: String = "orchestrator.sagas", column: String = "id",
                                client: PostgresClient, logger: Logger) async throws -> Bool {
        do {
            try await client.withConnection { connection in
                let sql = "SELECT 1 FROM \(table) WHERE \(column) = $1 FOR UPDATE NOWAIT"
                _ = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(saga)), logger: logger).collect()
            }
            return false
        } catch where error.sqlState == "55P03" {
            return true
        }
    }

    /// Sagas waiting on their first step, as the intake leaves them.
    static func insertRunningSagas(_ ids: [UUID], client: PostgresClient, logger: Logger) async throws {
        for id in ids {
            _ = try await client.query("""
                INSERT INTO orchestrator.sagas (id, order_id, state, step, order_data, token)
                VALUES (\(id), \(UUID()), 'running', 'reserveTickets', '{}', 1)
                """, logger: logger).collect()
        }
    }

    @Test func theOrchestratorsClaimReadsAndLocksTheSagasOfItsBatch() async throws {
        try await TestSystem.withDatabase { client, logger in
            let saga = UUID(), other = UUID(), missing = UUID()
            try await Self.insertRunningSagas([saga, other], client: client, logger: logger)
            try await client.withTransaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: saga),
                     OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: saga),
                     OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: missing)],
                    notifyAtCommit: true, on: connection, logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                let (messages, rows, deferred) = try await QueueStore().claim(
                    queue: .orchestrator, consumer: "orchestrator", limit: 10, with: SagaStatements.ClaimedSagas.self,
                    on: connection, logger: logger)
                #expect(messages.count == 3)
                #expect(deferred == 0)
                // One row per saga that exists, whatever the number of its messages.
                #expect(Set(rows.keys) == [saga])
                let columns = try #require(rows[saga]?.columns)
                #expect((columns.0, columns.1, columns.2, columns.7, columns.9) == (saga, "running", "reserveTickets", 1, 0))
                // Held until the claiming transaction ends; a saga of no message of the batch is not.
                #expect(try await Self.lockedElsewhere(saga, client: client, logger: logger))
                #expect(try await !Self.lockedElsewhere(other, client: client, logger: logger))
            }
            #expect(try await !Self.lockedElsewhere(saga, client: client, logger: logger))
        }
    }

    @Test func paymentsClaimReadsAndLocksTheChargesOfItsBatch() async throws {
        try await TestSystem.withDatabase { client, logger in
            let charged = UUID(), fresh = UUID(), order = UUID()
            _ = try await client.query("""
                INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status, failure_reason)
                VALUES (\(charged), \(order), \(UUID()), 2500, 'EUR', 'failed', 'payment_declined')
                """, logger: logger).collect()
            try await client.withTransaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [charged, fresh].map {
                        OutgoingMessage(ChargePayment(orderID: order, amountCents: 2500, currency: "EUR", paymentToken: "tok_visa"), sagaID: $0)
                    },
                    notifyAtCommit: true, on: connection, logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                let (messages, rows, deferred) = try await QueueStore().claim(
                    queue: .payment, consumer: "payment", limit: 10, with: ClaimedCharges.self, on: connection, logger: logger)
                #expect(messages.count == 2)
                #expect(deferred == 0)
                #expect(Set(rows.keys) == [charged])
                let charge = try #require(rows[charged]?.charge)
                #expect((charge.sagaID, charge.orderID, charge.status, charge.amountCents, charge.currency, charge.failureReason)
                        == (charged, order, "failed", 2500, "EUR", "payment_declined"))
                #expect(try await Self.lockedElsewhere(charged, in: "payment.charges", column: "saga_id", client: client, logger: logger))
            }
            #expect(try await !Self.lockedElsewhere(charged, in: "payment.charges", column: "saga_id", client: client, logger: logger))
        }
    }

    @Test func inventorysClaimReadsAndLocksTheReservationsOfItsBatch() async throws {
        try await TestSystem.withDatabase { client, logger in
            let held = UUID(), fresh = UUID(), order = UUID(), ticketType = UUID()
            _ = try await client.query("""
                INSERT INTO inventory.reservations (saga_id, order_id, status, lines, quantity)
                VALUES (\(held), \(order), 'held', \(#"[{"ticketTypeID":"\#(ticketType)","quantity":3}]"#)::jsonb, 3)
                """, logger: logger).collect()
            try await client.withTransaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [held, fresh].map { OutgoingMessage(ReleaseTickets(orderID: order), sagaID: $0) }, notifyAtCommit: true, on: connection, logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                let (messages, rows, deferred) = try await QueueStore().claim(
                    queue: .inventory, consumer: "inventory", limit: 10, with: ClaimedReservations.self, on: connection, logger: logger)
                #expect(messages.count == 2)
                #expect(deferred == 0)
                #expect(Set(rows.keys) == [held])
                let reservation = try #require(try rows[held]?.reservation.decoded())
                #expect((reservation.sagaID, reservation.orderID, reservation.status, reservation.quantity) == (held, order, "held", 3))
                #expect(reservation.lines == [OrderLine(ticketTypeID: ticketType, quantity: 3)])
                #expect(try await Self.lockedElsewhere(held, in: "inventory.reservations", column: "saga_id", client: client, logger: logger))
            }
            #expect(try await !Self.lockedElsewhere(held, in: "inventory.reservations", column: "saga_id", client: client, logger: logger))
        }
    }

    @Test func aSagaLockedElsewhereLeavesItsMessageQueuedAndTheRestOfTheBatchGoesOn() async throws {
        try await TestSystem.withDatabase { client, logger in
            let held = UUID(), free = UUID()
            try await Self.insertRunningSagas([held, free], client: client, logger: logger)
            try await client.withTransaction(logger: logger) { connection in
                try await MessagePublisher.publish(
                    [held, free].map { OutgoingMessage(TicketsReserved(orderID: UUID(), quantity: 1), sagaID: $0) },
                    notifyAtCommit: true, on: connection, logger: logger)
            }
            // Another session holds one saga's row, as an operator's open psql session might.
            try await client.withTransaction(logger: logger) { blocker in
                _ = try await blocker.query("SELECT 1 FROM orchestrator.sagas WHERE id = \(held) FOR UPDATE", logger: logger).collect()
                // The claim neither waits for that lock nor takes that saga's message.
                try await client.withTransaction(logger: logger) { connection in
                    _ = try await connection.query("SET LOCAL lock_timeout = '1s'", logger: logger).collect()
                    let (messages, rows, deferred) = try await QueueStore().claim(
                        queue: .orchestrator, consumer: "orchestrator", limit: 10, with: SagaStatements.ClaimedSagas.self,
                        on: connection, logger: logger)
                    #expect(messages.map(\.envelope.sagaID) == [free])
                    #expect(Set(rows.keys) == [free])
                    #expect(deferred == 1)
                }
                #expect(try await TestSystem.scalar(
                    "SELECT count(*)::int FROM bus.messages WHERE saga_id = \(held)", client: client, logger: logger) == 1)
            }
            // Once the lock is gone, the message is claimed with its saga.
            try await client.withTransaction(logger: logger) { connection in
                let (messages, rows, deferred) = try await QueueStore().claim(
                    queue: .orchestrator, consumer: "orchestrator", limit: 10, with: SagaStatements.ClaimedSagas.self,
                    on: connection, logger: logger)
                #expect(messages.map(\.envelope.sagaID) == [held])
                #expect(Set(rows.keys) == [held])
                #expect(deferred == 0)
            }
        }
    }
}
