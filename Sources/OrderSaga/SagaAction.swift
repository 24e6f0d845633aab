import Foundation
import EvenTicketContracts

/// A command the saga sends to a participant.
public enum SagaCommand: Sendable, Equatable {
    case reserveTickets(ReserveTickets)
    case createInvoice(CreateInvoice)
    case chargePayment(ChargePayment)
    case releaseTickets(ReleaseTickets)
    case cancelInvoice(CancelInvoice)
    case refundPayment(RefundPayment)

    /// The command wrapped for the bus.
    public func envelope(sagaID: UUID, causationID: UUID?) -> Envelope {
        switch self {
        case .reserveTickets(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        case .createInvoice(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        case .chargePayment(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        case .releaseTickets(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        case .cancelInvoice(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        case .refundPayment(let m): Envelope(m, sagaID: sagaID, causationID: causationID)
        }
    }

    /// The queue the command goes to.
    public var destination: Queue {
        switch self {
        case .reserveTickets, .releaseTickets: .inventory
        case .createInvoice, .cancelInvoice: .invoicing
        case .chargePayment, .refundPayment: .payment
        }
    }

    public var name: String {
        switch self {
        case .reserveTickets: ReserveTickets.name
        case .createInvoice: CreateInvoice.name
        case .chargePayment: ChargePayment.name
        case .releaseTickets: ReleaseTickets.name
        case .cancelInvoice: CancelInvoice.name
        case .refundPayment: RefundPayment.name
        }
    }
}

/// What the worker must do after a transition, inside the same transaction that stores it.
public enum SagaAction: Sendable, Equatable {
    /// Send a command to a participant.
    case send(SagaCommand)
    /// Deliver a ``StepDeadlineReached`` to this saga after the step timeout.
    case scheduleDeadline(StepDeadlineReached)
    /// Record on the saga's order that it is confirmed (the orchestrator does it in the
    /// statement that stores the transition).
    case confirmOrder(OrderConfirmed)
    /// Record on the saga's order that it is rejected, as ``confirmOrder(_:)``.
    case rejectOrder(OrderRejected)
}
