import Database
import Foundation
import Logging
import MessageBus
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

    /// What a round of messages writes: new charges, status changes of existing ones (never
    /// the same saga as a new one: a round has one message per saga) and the ledger, in one
    /// statement, alone or with the round's replies (``FinalWrites``).
    struct Writes: FinalWrites {
        var inserts: [Charge] = []
        var statusChanges: [(sagaID: UUID, status: String)] = []
        var ledger: [LedgerEntry] = []

        static let parameterCount = 12
        static let ctes = """
            charges_inserted AS (
                INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status, failure_reason)
                SELECT c.saga_id, c.order_id, c.id, c.amount_cents, c.currency, c.status, NULLIF(c.failure_reason, '')
                  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[])
                       AS c(saga_id, order_id, id, amount_cents, currency, status, failure_reason)),
            charges_settled AS (
                UPDATE payment.charges c SET status = u.status, updated_at = now()
                  FROM unnest($8::uuid[], $9::text[]) AS u(saga_id, status)
                 WHERE c.saga_id = u.saga_id),
            ledger_recorded AS (
                INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents)
                SELECT * FROM unnest($10::uuid[], $11::text[], $12::bigint[]))
            """

        func appendBindings(to bindings: inout PostgresBindings) {
            bindings.append(inserts.map(\.sagaID))
            bindings.append(inserts.map(\.orderID))
            bindings.append(inserts.map(\.id))
            bindings.append(inserts.map(\.amountCents))
            bindings.append(inserts.map(\.currency))
            bindings.append(inserts.map(\.status))
            bindings.append(inserts.map { $0.failureReason ?? "" })
            bindings.append(statusChanges.map(\.sagaID))
            bindings.append(statusChanges.map(\.status))
            bindings.append(ledger.map(\.sagaID))
            bindings.append(ledger.map(\.kind))
            bindings.append(ledger.map(\.amountCents))
        }
    }

    static let chargeColumns = "saga_id, order_id, id, status, amount_cents, currency, failure_reason"

    enum Lock: PreparedSQL {
        static let sql = "SELECT \(chargeColumns) FROM payment.charges WHERE saga_id = ANY($1::uuid[]) ORDER BY saga_id FOR UPDATE"
    }

    /// A charge's columns after its saga id, in ``chargeColumns``' order.
    static func charge(sagaID: UUID, _ columns: inout RowReader) throws -> Charge {
        Charge(sagaID: sagaID, orderID: try columns.next(UUID.self), id: try columns.next(UUID.self), status: try columns.next(String.self),
               amountCents: try columns.next(Int.self), currency: try columns.next(String.self), failureReason: try columns.next(String?.self))
    }

    /// The sagas' charges, locked until the transaction ends.
    func lock(_ sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Charge] {
        let rows = try await connection.execute(
            Prepared<Lock, Charge>(PostgresBindings(sagaIDs)) { row in
                var columns = RowReader(row)
                return try Self.charge(sagaID: try columns.next(UUID.self), &columns)
            },
            logger: logger)
        var charges: [UUID: Charge] = [:]
        for try await charge in rows { charges[charge.sagaID] = charge }
        return charges
    }
}

/// The charges of a batch's sagas, locked (in saga order) by the payment consumer's claim, as
/// ``ChargeStore/lock(_:on:logger:)`` would after it.
public enum ClaimedCharges: ClaimedSagaRows {
    public struct Row: Sendable {
        let charge: ChargeStore.Charge
    }

    public static let table = "payment.charges"
    public static let sagaKey = "saga_id"
    public static let columns = ChargeStore.chargeColumns

    public static func decode(sagaID: UUID, _ columns: inout RowReader) throws -> Row {
        Row(charge: try ChargeStore.charge(sagaID: sagaID, &columns))
    }
}
