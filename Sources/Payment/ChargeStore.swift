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

    enum Lock: PreparedSQL {
        static let sql = """
            SELECT saga_id, order_id, id, status, amount_cents, currency, failure_reason FROM payment.charges
             WHERE saga_id = ANY($1::uuid[]) ORDER BY saga_id FOR UPDATE
            """
    }

    enum Insert: PreparedSQL {
        static let sql = """
            INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status, failure_reason)
            SELECT c.saga_id, c.order_id, c.id, c.amount_cents, c.currency, c.status, NULLIF(c.failure_reason, '')
              FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[])
                   AS c(saga_id, order_id, id, amount_cents, currency, status, failure_reason)
            """
    }

    enum SetStatus: PreparedSQL {
        static let sql = """
            UPDATE payment.charges c SET status = u.status, updated_at = now()
              FROM unnest($1::uuid[], $2::text[]) AS u(saga_id, status)
             WHERE c.saga_id = u.saga_id
            """
    }

    enum Record: PreparedSQL {
        static let sql = """
            INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[])
            """
    }

    /// The sagas' charges, locked until the transaction ends.
    func lock(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Charge] {
        typealias Row = (UUID, UUID, UUID, String, Int, String, String?)
        let rows = try await connection.execute(
            Prepared<Lock, Row>(PostgresBindings(sagaIDs)) { row in
                var columns = RowReader(row)
                return (try columns.next(UUID.self), try columns.next(UUID.self), try columns.next(UUID.self), try columns.next(String.self),
                        try columns.next(Int.self), try columns.next(String.self), try columns.next(String?.self))
            },
            logger: logger)
        var charges: [UUID: Charge] = [:]
        for try await (saga, order, id, status, amount, currency, reason) in rows {
            charges[saga] = Charge(sagaID: saga, orderID: order, id: id, status: status, amountCents: amount, currency: currency, failureReason: reason)
        }
        return charges
    }

    func apply(_ writes: Writes, on connection: PostgresConnection, logger: Logger) async throws {
        if !writes.inserts.isEmpty {
            let charges = writes.inserts
            try await connection.run(
                Insert.self,
                PostgresBindings(charges.map(\.sagaID), charges.map(\.orderID), charges.map(\.id), charges.map(\.amountCents),
                                 charges.map(\.currency), charges.map(\.status), charges.map { $0.failureReason ?? "" }),
                logger: logger)
        }
        if !writes.statusChanges.isEmpty {
            try await connection.run(
                SetStatus.self, PostgresBindings(writes.statusChanges.map(\.sagaID), writes.statusChanges.map(\.status)), logger: logger)
        }
        if !writes.ledger.isEmpty {
            try await connection.run(
                Record.self,
                PostgresBindings(writes.ledger.map(\.sagaID), writes.ledger.map(\.kind), writes.ledger.map(\.amountCents)),
                logger: logger)
        }
    }
}
