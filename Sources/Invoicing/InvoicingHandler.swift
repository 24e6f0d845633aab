import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Invoicing's consumer: one numbered invoice per saga, voided on cancellation.
///
/// A batch takes a few statements per round (see ``Swift/Array/roundsBySaga``): one insert of
/// the new invoices, one upsert of the cancellations, one read of the invoices it answers for.
public struct InvoicingHandler: MessageHandler {
    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        var outgoing: [OutgoingMessage] = []
        for round in envelopes.roundsBySaga {
            outgoing += try await handleRound(round, connection: connection, logger: logger)
        }
        return outgoing
    }

    private func handleRound(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        var creates: [(Envelope, CreateInvoice)] = []
        var cancels: [(Envelope, CancelInvoice)] = []
        for envelope in envelopes {
            switch envelope.typeName {
            case CreateInvoice.typeName: creates.append((envelope, try envelope.decode(CreateInvoice.self)))
            case CancelInvoice.typeName: cancels.append((envelope, try envelope.decode(CancelInvoice.self)))
            default: throw PermanentFailure.unknownType(envelope, queue: .invoicing)
            }
        }
        try await create(creates.map(\.1), sagaIDs: creates.map(\.0.sagaID), on: connection, logger: logger)
        try await cancel(cancels.map(\.1), sagaIDs: cancels.map(\.0.sagaID), on: connection, logger: logger)
        let invoices = try await invoices(for: creates.map(\.0.sagaID), on: connection, logger: logger)
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
        return outgoing
    }

    /// Issues one numbered invoice per saga; a saga that has one (or a void placeholder) keeps it.
    private func create(_ commands: [CreateInvoice], sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws {
        guard !commands.isEmpty else { return }
        try await connection.run(
            Create.self,
            PostgresBindings(sagaIDs, commands.map(\.orderID), commands.map { _ in UUID.timeOrdered() }, commands.map(\.customerID),
                             commands.map(\.amountCents), commands.map(\.currency)),
            logger: logger)
    }

    /// Voids each saga's invoice, or leaves a void placeholder when none exists yet, so that a
    /// late CreateInvoice does not issue one.
    private func cancel(_ commands: [CancelInvoice], sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws {
        guard !commands.isEmpty else { return }
        try await connection.run(
            Cancel.self, PostgresBindings(sagaIDs, commands.map(\.orderID), commands.map { _ in UUID.timeOrdered() }), logger: logger)
    }

    enum Create: PreparedSQL {
        static let sql = """
            INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status)
            SELECT c.saga_id, c.order_id, c.id, 'INV-' || lpad(nextval('invoicing.invoice_number_seq')::text, 8, '0'),
                   c.customer_id, c.amount_cents, c.currency, 'issued'
              FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[])
                   AS c(saga_id, order_id, id, customer_id, amount_cents, currency)
            ON CONFLICT (saga_id) DO NOTHING
            """
    }

    enum Cancel: PreparedSQL {
        static let sql = """
            INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status, voided_at)
            SELECT c.saga_id, c.order_id, c.id, NULL, '', 0, 'XXX', 'void', now()
              FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS c(saga_id, order_id, id)
            ON CONFLICT (saga_id) DO UPDATE SET status = 'void', voided_at = coalesce(invoicing.invoices.voided_at, now())
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

    private func invoices(for sagaIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Invoice] {
        guard !sagaIDs.isEmpty else { return [:] }
        let rows = try await connection.execute(
            Prepared<Find, (UUID, UUID, String?, String)>(PostgresBindings(sagaIDs)) { row in
                var columns = RowReader(row)
                return (try columns.next(UUID.self), try columns.next(UUID.self), try columns.next(String?.self), try columns.next(String.self))
            },
            logger: logger)
        var invoices: [UUID: Invoice] = [:]
        for try await (saga, id, number, status) in rows {
            invoices[saga] = Invoice(id: id, number: number, status: status)
        }
        return invoices
    }
}
