import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Invoicing's consumer: one numbered invoice per saga, voided on cancellation.
///
/// A batch takes a few statements per round (see ``Swift/Array/roundsBySaga``): one insert of
/// the new invoices that also reads the invoices it answers for, and one upsert of the
/// cancellations (for the last round, in the statement that publishes the replies).
public struct InvoicingHandler: MessageHandler {
    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatchDeferringWrites(envelopes, connection: connection, logger: logger).writingNow(on: connection, logger: logger)
    }

    /// Each round's cancellations are written before the next round (``HandledBatch/inRounds(_:on:logger:_:)``).
    public func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        try await .inRounds(envelopes, on: connection, logger: logger) { round in
            try await handleRound(round, connection: connection, logger: logger)
        }
    }

    /// A round's replies, and the cancellations it leaves to write (nil: none).
    private func handleRound(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws
        -> (messages: [OutgoingMessage], writes: Cancellations?) {
        var creates: [(Envelope, CreateInvoice)] = []
        var cancels: [(Envelope, CancelInvoice)] = []
        for envelope in envelopes {
            switch envelope.typeName {
            case CreateInvoice.typeName: creates.append((envelope, try envelope.decode(CreateInvoice.self)))
            case CancelInvoice.typeName: cancels.append((envelope, try envelope.decode(CancelInvoice.self)))
            default: throw PermanentFailure.unknownType(envelope, queue: .invoicing)
            }
        }
        // Creates and cancels of one round are for different sagas: their order does not matter.
        let invoices = try await issue(creates.map(\.1), sagaIDs: creates.map(\.0.sagaID), on: connection, logger: logger)
        var outgoing: [OutgoingMessage] = []
        for (envelope, command) in creates {
            if let invoice = invoices[envelope.sagaID], invoice.status == "issued", let number = invoice.number {
                outgoing.append(OutgoingMessage(InvoiceCreated(orderID: command.orderID, invoiceID: invoice.id, invoiceNumber: number),
                                                sagaID: envelope.sagaID, causationID: envelope.messageID))
            } else {
                // The invoice was cancelled before it was created: it stays void.
                outgoing.append(OutgoingMessage(InvoiceCancelled(orderID: command.orderID), sagaID: envelope.sagaID, causationID: envelope.messageID))
            }
        }
        for (envelope, command) in cancels {
            outgoing.append(OutgoingMessage(InvoiceCancelled(orderID: command.orderID), sagaID: envelope.sagaID, causationID: envelope.messageID))
        }
        guard !cancels.isEmpty else { return (outgoing, nil) }
        return (outgoing, Cancellations(sagaIDs: cancels.map(\.0.sagaID), orderIDs: cancels.map(\.1.orderID),
                                        ids: cancels.map { _ in UUID.timeOrdered() }))
    }

    /// Issues one numbered invoice per saga (a saga that has one, or a void placeholder, keeps
    /// it) and returns each saga's invoice.
    private func issue(_ commands: [CreateInvoice], sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Invoice] {
        guard !commands.isEmpty else { return [:] }
        var invoices = try await invoices(
            Prepared<Issue, (UUID, UUID, String?, String)>(
                PostgresBindings(sagaIDs, commands.map(\.orderID), commands.map { _ in UUID.timeOrdered() }, commands.map(\.customerID),
                                 commands.map(\.amountCents), commands.map(\.currency)),
                decode: Self.invoiceRow),
            on: connection, logger: logger)
        // An invoice that another transaction committed after this statement's snapshot was
        // taken kept this insert from happening but is not in its result: read it anew.
        let unseen = sagaIDs.filter { invoices[$0] == nil }
        if !unseen.isEmpty {
            invoices.merge(try await self.invoices(Prepared<Find, (UUID, UUID, String?, String)>(PostgresBindings(unseen), decode: Self.invoiceRow),
                                                   on: connection, logger: logger)) { $1 }
        }
        return invoices
    }

    /// Voids each saga's invoice, or leaves a void placeholder when none exists yet, so that a
    /// late CreateInvoice does not issue one.
    struct Cancellations: FinalWrites {
        var sagaIDs: [UUID]
        var orderIDs: [UUID]
        var ids: [UUID]

        static let parameterCount = 3
        static let ctes = """
            invoices_voided AS (
                INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status, voided_at)
                SELECT c.saga_id, c.order_id, c.id, NULL, '', 0, 'XXX', 'void', now()
                  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS c(saga_id, order_id, id)
                ON CONFLICT (saga_id) DO UPDATE SET status = 'void', voided_at = coalesce(invoicing.invoices.voided_at, now()))
            """

        func appendBindings(to bindings: inout PostgresBindings) {
            bindings.append(sagaIDs)
            bindings.append(orderIDs)
            bindings.append(ids)
        }
    }

    /// Inserts the new invoices and returns the sagas' invoices: the ones it inserted, and the
    /// ones that existed when the statement began.
    ///
    /// An invoice's number is its sequence value padded to at least 8 digits: `INV-00000042`,
    /// and past 99,999,999 all of its digits (`lpad` alone cuts a longer text to the length,
    /// which gave `INV-10000000` again for 100,000,000, and a unique violation on every invoice
    /// after it). The values are drawn in a CTE of their own, once per row (a CTE that calls a
    /// volatile function is not inlined), since the padding needs each one twice.
    enum Issue: PreparedSQL {
        static let sql = """
            WITH numbered AS (
                SELECT c.*, nextval('invoicing.invoice_number_seq')::text AS n
                  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[])
                       AS c(saga_id, order_id, id, customer_id, amount_cents, currency)),
            issued AS (
                INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status)
                SELECT saga_id, order_id, id, 'INV-' || lpad(n, greatest(8, length(n)), '0'),
                       customer_id, amount_cents, currency, 'issued'
                  FROM numbered
                ON CONFLICT (saga_id) DO NOTHING
                RETURNING saga_id, id, number, status)
            SELECT saga_id, id, number, status FROM issued
            UNION ALL
            SELECT saga_id, id, number, status FROM invoicing.invoices
             WHERE saga_id = ANY($1::uuid[]) AND saga_id NOT IN (SELECT saga_id FROM issued)
            """
    }

    enum Find: PreparedSQL {
        static let sql = "SELECT saga_id, id, number, status FROM invoicing.invoices WHERE saga_id = ANY($1::uuid[])"
    }

    private struct Invoice {
        var id: UUID
        var number: String?
        var status: String
    }

    private static let invoiceRow: @Sendable (PostgresRow) throws -> (UUID, UUID, String?, String) = { row in
        var columns = RowReader(row)
        return (try columns.next(UUID.self), try columns.next(UUID.self), try columns.next(String?.self), try columns.next(String.self))
    }

    private func invoices<Text: PreparedSQL>(
        _ statement: Prepared<Text, (UUID, UUID, String?, String)>, on connection: PostgresConnection, logger: Logger
    ) async throws -> [UUID: Invoice] {
        var invoices: [UUID: Invoice] = [:]
        for try await (saga, id, number, status) in try await connection.execute(statement, logger: logger) {
            invoices[saga] = Invoice(id: id, number: number, status: status)
        }
        return invoices
    }
}
