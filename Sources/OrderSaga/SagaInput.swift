import Foundation
import EvenTicketContracts

/// Everything that can move an order saga.
public enum SagaInput: Sendable, Equatable {
    case ticketsReserved(TicketsReserved)
    case ticketsUnavailable(TicketsUnavailable)
    case invoiceCreated(InvoiceCreated)
    case paymentCharged(PaymentCharged)
    case paymentFailed(PaymentFailed)
    case ticketsReleased(TicketsReleased)
    case invoiceCancelled(InvoiceCancelled)
    case paymentRefunded(PaymentRefunded)
    case deadlineReached(StepDeadlineReached)
    /// An operator asks a failed saga to try its compensation again.
    case operatorRetry

    /// Decodes the input an envelope carries, or `nil` when the type is not one the saga consumes.
    public init?(envelope: Envelope) throws {
        switch envelope.typeName {
        case TicketsReserved.typeName: self = .ticketsReserved(try envelope.decode(TicketsReserved.self))
        case TicketsUnavailable.typeName: self = .ticketsUnavailable(try envelope.decode(TicketsUnavailable.self))
        case InvoiceCreated.typeName: self = .invoiceCreated(try envelope.decode(InvoiceCreated.self))
        case PaymentCharged.typeName: self = .paymentCharged(try envelope.decode(PaymentCharged.self))
        case PaymentFailed.typeName: self = .paymentFailed(try envelope.decode(PaymentFailed.self))
        case TicketsReleased.typeName: self = .ticketsReleased(try envelope.decode(TicketsReleased.self))
        case InvoiceCancelled.typeName: self = .invoiceCancelled(try envelope.decode(InvoiceCancelled.self))
        case PaymentRefunded.typeName: self = .paymentRefunded(try envelope.decode(PaymentRefunded.self))
        case StepDeadlineReached.typeName: self = .deadlineReached(try envelope.decode(StepDeadlineReached.self))
        default: return nil
        }
    }

    /// A short name for history entries.
    public var kind: String {
        switch self {
        case .ticketsReserved: TicketsReserved.name
        case .ticketsUnavailable: TicketsUnavailable.name
        case .invoiceCreated: InvoiceCreated.name
        case .paymentCharged: PaymentCharged.name
        case .paymentFailed: PaymentFailed.name
        case .ticketsReleased: TicketsReleased.name
        case .invoiceCancelled: InvoiceCancelled.name
        case .paymentRefunded: PaymentRefunded.name
        case .deadlineReached: StepDeadlineReached.name
        case .operatorRetry: "OperatorRetry"
        }
    }
}
