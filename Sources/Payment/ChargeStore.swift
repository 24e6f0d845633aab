import Database
import Foundation
import Logging
import PostgresNIO

/// Payment's tables: one charge per saga and the ledger of money moved. Set-based: each method
/// is one statement for any number of sagas.
struct ChargeStore: Sendable {
    struct Charge: Sendable {
        var sagaID: UUID
        var orderID: UUID
        var id: UUID
        var status: String
        var amountCents: Int
        var currency: String
        var failureReason: String?
    }

    struct LedgerEntry: Sendable {
        var sagaID: UUID
        var kind: String
        var amountCents: Int
    }

    /// What a round of messages writes.
    struct Writes: Sendable {
        var inserts: [Charge] = []
        var statusChanges: [(sagaID: UUID, status: String)] = []
        var ledger: [LedgerEntry] = []
    }

    /// The sagas' charges, locked until the transaction ends.
    func lock(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Charge] {
        let rows = try await connection.query(
            """
            SELECT saga_id, order_id, id, status, amount_cents, currency, failure_reason FROM payment.charges
             WHERE saga_id = ANY(\(sagaIDs)::uuid[]) ORDER BY saga_id FOR UPDATE
            """,
            logger: logger)
        var charges: [UUID: Charge] = [:]
        for try await (saga, order, id, status, amount, currency, reason) in rows.decode((UUID, UUID, UUID, String, Int, String, String?).self) {
            charges[saga] = Charge(sagaID: saga, orderID: order, id: id, status: status, amountCents: amount, currency: currency, failureReason: reason)
        }
        return charges
    }

    func apply(_ writes: Writes, on connection: PostgresConnection, logger: Logger) async throws {
        if !writes.inserts.isEmpty {
            let charges = writes.inserts
            _ = try await connection.query(
                """
                INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status, failure_reason)
                SELECT c.saga_id, c.order_id, c.id, c.amount_cents, c.currency, c.status, NULLIF(c.failure_reason, '')
                  FROM unnest(\(charges.map(\.sagaID))::uuid[], \(charges.map(\.orderID))::uuid[], \(charges.map(\.id))::uuid[],
                              \(charges.map(\.amountCents))::bigint[], \(charges.map(\.currency))::text[], \(charges.map(\.status))::text[],
                              \(charges.map { $0.failureReason ?? "" })::text[])
                       AS c(saga_id, order_id, id, amount_cents, currency, status, failure_reason)
                """,
                logger: logger).collect()
        }
        if !writes.statusChanges.isEmpty {
            _ = try await connection.query(
                """
                UPDATE payment.charges c SET status = u.status, updated_at = now()
                  FROM unnest(\(writes.statusChanges.map(\.sagaID))::uuid[], \(writes.statusChanges.map(\.status))::text[]) AS u(saga_id, status)
                 WHERE c.saga_id = u.saga_id
                """,
                logger: logger).collect()
        }
        if !writes.ledger.isEmpty {
            _ = try await connection.query(
                """
                INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents)
                SELECT * FROM unnest(\(writes.ledger.map(\.sagaID))::uuid[], \(writes.ledger.map(\.kind))::text[],
                                     \(writes.ledger.map(\.amountCents))::bigint[])
                """,
                logger: logger).collect()
        }
    }
}
