import Foundation

// Events say that something happened. Participants' events go to the orchestrator.
// `OrderConfirmed` and `OrderRejected` are what orchestrators before migration 0018 sent the
// ordering service when a saga ended; the orchestrator now records the outcome on the order
// itself, and the ordering service still consumes these from older builds.

/// An order was accepted by the ordering service; its saga starts from this event.
public struct OrderPlaced: Message {
    public static let name = "OrderPlaced"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    public var customerID: String
    public var eventID: UUID
    public var lines: [OrderLine]
    public var totalCents: Int
    public var currency: String
    public var paymentToken: String
    public init(orderID: UUID, customerID: String, eventID: UUID, lines: [OrderLine], totalCents: Int, currency: String, paymentToken: String) {
        self.orderID = orderID
        self.customerID = customerID
        self.eventID = eventID
        self.lines = lines
        self.totalCents = totalCents
        self.currency = currency
        self.paymentToken = paymentToken
    }
}

public struct TicketsReserved: Message {
    public static let name = "TicketsReserved"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    public var quantity: Int
    public init(orderID: UUID, quantity: Int) {
        self.orderID = orderID
        self.quantity = quantity
    }
}

public struct TicketsUnavailable: Message {
    public static let name = "TicketsUnavailable"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    /// `tickets_unavailable`, or `reservation_cancelled` when a release came first.
    public var reason: String
    public init(orderID: UUID, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }
}

public struct TicketsReleased: Message {
    public static let name = "TicketsReleased"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    /// Tickets put back by this release (0 when nothing was held).
    public var quantity: Int
    public init(orderID: UUID, quantity: Int) {
        self.orderID = orderID
        self.quantity = quantity
    }
}

public struct InvoiceCreated: Message {
    public static let name = "InvoiceCreated"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    public var invoiceID: UUID
    public var invoiceNumber: String
    public init(orderID: UUID, invoiceID: UUID, invoiceNumber: String) {
        self.orderID = orderID
        self.invoiceID = invoiceID
        self.invoiceNumber = invoiceNumber
    }
}

public struct InvoiceCancelled: Message {
    public static let name = "InvoiceCancelled"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

public struct PaymentCharged: Message {
    public static let name = "PaymentCharged"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    public var chargeID: UUID
    public var amountCents: Int
    public init(orderID: UUID, chargeID: UUID, amountCents: Int) {
        self.orderID = orderID
        self.chargeID = chargeID
        self.amountCents = amountCents
    }
}

public struct PaymentFailed: Message {
    public static let name = "PaymentFailed"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    /// `payment_declined`, or `payment_cancelled` when a refund came first.
    public var reason: String
    public init(orderID: UUID, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }
}

public struct PaymentRefunded: Message {
    public static let name = "PaymentRefunded"
    public static let destination = Queue.orchestrator
    public var orderID: UUID
    /// Money given back by this refund (0 when nothing had been taken).
    public var amountCents: Int
    public init(orderID: UUID, amountCents: Int) {
        self.orderID = orderID
        self.amountCents = amountCents
    }
}

/// The saga finished: tickets held, invoice issued, money taken. Published only by builds
/// before migration 0018.
public struct OrderConfirmed: Message {
    public static let name = "OrderConfirmed"
    public static let destination = Queue.ordering
    public var orderID: UUID
    public init(orderID: UUID) { self.orderID = orderID }
}

/// The saga ended without the order (and, unless the saga failed, with every step undone).
/// Published only by builds before migration 0018.
public struct OrderRejected: Message {
    public static let name = "OrderRejected"
    public static let destination = Queue.ordering
    public var orderID: UUID
    public var reason: String
    public init(orderID: UUID, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }
}
