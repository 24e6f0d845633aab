import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Invoicing's consumer: one numbered invoice per saga, voided on cancellation.
public struct InvoicingHandler: MessageHandler {
    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        switch envelope.typeName {
        case CreateInvoice.typeName:
            let command = try envelope.decode(CreateInvoice.self)
            return [try await create(command, sagaID: envelope.sagaID, causation: envelope.messageID, on: connection, logger: logger)]
        case CancelInvoice.typeName:
            let command = try envelope.decode(CancelInvoice.self)
            return [try await cancel(command, sagaID: envelope.sagaID, causation: envelope.messageID, on: connection, logger: logger)]
        default:
            throw PermanentFailure.unknownType(envelope, queue: .invoicing)
        }
    }

    func create(_ command: CreateInvoice, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OutgoingMessage {
        _ = try await connection.query(
            """
            INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status)
            VALUES (\(sagaID), \(command.orderID), \(UUID()),
                    'INV-' || lpad(nextval('invoicing.invoice_number_seq')::text, 8, '0'),
                    \(command.customerID), \(command.amountCents), \(command.currency), 'issued')
            ON CONFLICT (saga_id) DO NOTHING
            """, logger: logger).collect()
        let rows = try await connection.query(
            "SELECT id, number, status FROM invoicing.invoices WHERE saga_id = \(sagaID)", logger: logger)
        for try await (id, number, status) in rows.decode((UUID, String?, String).self) {
            if status == "issued", let number {
                return OutgoingMessage(InvoiceCreated(orderID: command.orderID, invoiceID: id, invoiceNumber: number),
                                       sagaID: sagaID, causationID: causation)
            }
        }
        // The invoice was cancelled before it was created: it stays void.
        return OutgoingMessage(InvoiceCancelled(orderID: command.orderID), sagaID: sagaID, causationID: causation)
    }

    func cancel(_ command: CancelInvoice, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OutgoingMessage {
        // Voids the invoice, or leaves a void placeholder when none exists yet, so that a late
        // CreateInvoice does not issue one.
        _ = try await connection.query(
            """
            INSERT INTO invoicing.invoices (saga_id, order_id, id, number, customer_id, amount_cents, currency, status, voided_at)
            VALUES (\(sagaID), \(command.orderID), \(UUID()), NULL, '', 0, 'XXX', 'void', now())
            ON CONFLICT (saga_id) DO UPDATE SET status = 'void', voided_at = coalesce(invoicing.invoices.voided_at, now())
            """, logger: logger).collect()
        return OutgoingMessage(InvoiceCancelled(orderID: command.orderID), sagaID: sagaID, causationID: causation)
    }
}
