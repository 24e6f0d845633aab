import Foundation

// Commands ask a service to do something. Each one is keyed by the order's saga, and every
// handler is idempotent per saga: the same command twice has the effect of one.

/// Hold tickets for an order. Answered by ``TicketsReserved`` or ``TicketsUnavailable``.
public struct ReserveTickets: Message {
    public static let name = "ReserveTickets"
    public static let destination = Queue.inventory
    public var orderID: UUID
    public var eventID: UUID
    public var lines: [OrderLine]
    public init(orderID: UUID, eventID: UUID, lines: [OrderLine]) {
        self.orderID = orderID
        self.eventID = eventID
        self.lines = lines
    }
}

/// Compensation for ``ReserveTickets``: put held tickets back. Answered by ``TicketsReleased``.
public struct ReleaseTickets: Message {
    public static let name = "ReleaseTickets"
    public static let destination = Queue.inventory
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

/// Issue an invoice for an order. Answered by ``InvoiceCreated``.
public struct CreateInvoice: Message {
    public static let name = "CreateInvoice"
    public static let destination = Queue.invoicing
    public var orderID: UUID
    public var customerID: String
    public var amountCents: Int
    public var currency: String
    public init(orderID: UUID, customerID: String, amountCents: Int, currency: String) {
        self.orderID = orderID
        self.customerID = customerID
        self.amountCents = amountCents
        self.currency = currency
    }
}

/// Compensation for ``CreateInvoice``: void the invoice. Answered by ``InvoiceCancelled``.
public struct CancelInvoice: Message {
    public static let name = "CancelInvoice"
    public static let destination = Queue.invoicing
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

/// Take the money. Answered by ``PaymentCharged`` or ``PaymentFailed``.
public struct ChargePayment: Message {
    public static let name = "ChargePayment"
    public static let destination = Queue.payment
    public var orderID: UUID
    public var amountCents: Int
    public var currency: String
    public var paymentToken: String
    public init(orderID: UUID, amountCents: Int, currency: String, paymentToken: String) {
        self.orderID = orderID
        self.amountCents = amountCents
        self.currency = currency
        self.paymentToken = paymentToken
    }
}

/// Compensation for ``ChargePayment``: give any money taken back. Answered by ``PaymentRefunded``.
public struct RefundPayment: Message {
    public static let name = "RefundPayment"
    public static let destination = Queue.payment
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

/// The payment service's own delayed message: the simulated gateway answers a slow charge.
public struct SettleSlowCharge: Message {
    public static let name = "SettleSlowCharge"
    public static let destination = Queue.payment
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

/// The orchestrator's own delayed message: a step's deadline has passed.
public struct StepDeadlineReached: Message {
    public static let name = "StepDeadlineReached"
    public static let destination = Queue.orchestrator
    /// The step that was waiting (raw value of the saga's step).
    public var step: String
    /// The saga's step token when the deadline was set; a later transition makes it stale.
    public var token: Int
    public init(step: String, token: Int) {
        self.step = step
        self.token = token
    }
}
