import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

/// One fixed order, so every expected command can be spelled out exactly.
enum Fixture {
    static let sagaID = UUID(uuidString: "5A6A0000-0000-4000-8000-000000000001")!
    static let orderID = UUID(uuidString: "0D0D0000-0000-4000-8000-000000000002")!
    static let eventID = UUID(uuidString: "E0E00000-0000-4000-8000-000000000003")!
    static let standardType = UUID(uuidString: "77770000-0000-4000-8000-000000000004")!
    static let vipType = UUID(uuidString: "77770000-0000-4000-8000-000000000005")!
    static let chargeID = UUID(uuidString: "CCCC0000-0000-4000-8000-000000000006")!
    static let invoiceID = UUID(uuidString: "11110000-0000-4000-8000-000000000007")!

    static let lines = [
        OrderLine(ticketTypeID: standardType, quantity: 2),
        OrderLine(ticketTypeID: vipType, quantity: 1),
    ]

    static let order = OrderPlaced(
        orderID: orderID, customerID: "cust-42", eventID: eventID, lines: lines,
        totalCents: 12_345, currency: "EUR", paymentToken: "tok_visa_4242"
    )
}

// MARK: Expected commands and actions

enum Cmd {
    static let reserve = SagaCommand.reserveTickets(
        ReserveTickets(orderID: Fixture.orderID, eventID: Fixture.eventID, lines: Fixture.lines))
    static let invoice = SagaCommand.createInvoice(
        CreateInvoice(orderID: Fixture.orderID, customerID: "cust-42", amountCents: 12_345, currency: "EUR"))
    static let charge = SagaCommand.chargePayment(
        ChargePayment(orderID: Fixture.orderID, amountCents: 12_345, currency: "EUR", paymentToken: "tok_visa_4242"))
    static let release = SagaCommand.releaseTickets(ReleaseTickets(orderID: Fixture.orderID))
    static let cancel = SagaCommand.cancelInvoice(CancelInvoice(orderID: Fixture.orderID))
    static let refund = SagaCommand.refundPayment(RefundPayment(orderID: Fixture.orderID))
}

/// The actions that start the saga: the first stage's two commands, then its one deadline.
let startActions: [SagaAction] = [
    .send(Cmd.reserve), .send(Cmd.invoice), .scheduleDeadline(StepDeadlineReached(step: "reserveTickets", token: 1)),
]

/// The actions that undo the first stage: its two compensations, then their one deadline.
func undoFirstStage(token: Int) -> [SagaAction] {
    [.send(Cmd.cancel), .send(Cmd.release), .scheduleDeadline(StepDeadlineReached(step: "cancelInvoice", token: token))]
}

/// The two actions that start waiting on a step: the command, then its deadline.
func sendAndWait(_ command: SagaCommand, step: String, token: Int) -> [SagaAction] {
    [.send(command), .scheduleDeadline(StepDeadlineReached(step: step, token: token))]
}

func reject(_ reason: String) -> SagaAction {
    .rejectOrder(OrderRejected(orderID: Fixture.orderID, reason: reason))
}

let confirm = SagaAction.confirmOrder(OrderConfirmed(orderID: Fixture.orderID))

// MARK: Inputs

extension SagaInput {
    static let reserved = SagaInput.ticketsReserved(TicketsReserved(orderID: Fixture.orderID, quantity: 3))
    static let invoiced = SagaInput.invoiceCreated(
        InvoiceCreated(orderID: Fixture.orderID, invoiceID: Fixture.invoiceID, invoiceNumber: "INV-0001"))
    static let charged = SagaInput.paymentCharged(
        PaymentCharged(orderID: Fixture.orderID, chargeID: Fixture.chargeID, amountCents: 12_345))
    static let released = SagaInput.ticketsReleased(TicketsReleased(orderID: Fixture.orderID, quantity: 3))
    static let cancelled = SagaInput.invoiceCancelled(InvoiceCancelled(orderID: Fixture.orderID))
    static let refunded = SagaInput.paymentRefunded(PaymentRefunded(orderID: Fixture.orderID, amountCents: 12_345))

    static func unavailable(_ reason: String = "tickets_unavailable") -> SagaInput {
        .ticketsUnavailable(TicketsUnavailable(orderID: Fixture.orderID, reason: reason))
    }

    static func declined(_ reason: String = "payment_declined") -> SagaInput {
        .paymentFailed(PaymentFailed(orderID: Fixture.orderID, reason: reason))
    }

    static func deadline(_ step: String, _ token: Int) -> SagaInput {
        .deadlineReached(StepDeadlineReached(step: step, token: token))
    }
}

/// The deadline the saga is waiting for right now (current step and token).
func currentDeadline(of saga: OrderSaga) -> SagaInput {
    .deadline(saga.step.name, saga.token)
}

// MARK: Driving a saga

func startedSaga() -> OrderSaga {
    OrderSaga.start(id: Fixture.sagaID, order: Fixture.order).0
}

/// A fresh saga fed `inputs`, each of which must be applied (not ignored).
func saga(after inputs: [SagaInput], sourceLocation: SourceLocation = #_sourceLocation) -> OrderSaga {
    var saga = startedSaga()
    for input in inputs {
        let decision = saga.handle(input)
        #expect(decision.ignoredBecause == nil, "setup input \(input.kind) was ignored", sourceLocation: sourceLocation)
    }
    return saga
}

/// Running and waiting on `step` (for `.reserveTickets`, on the invoice too).
func runningSaga(at step: ForwardStep) -> OrderSaga {
    switch step {
    case .reserveTickets: saga(after: [])
    case .createInvoice: saga(after: [.reserved])
    case .chargePayment: saga(after: [.reserved, .invoiced])
    }
}

let completedInputs: [SagaInput] = [.reserved, .invoiced, .charged]
/// Payment declined: compensating, waiting on CancelInvoice and ReleaseTickets with token 3.
let declinedInputs: [SagaInput] = [.reserved, .invoiced, .declined()]
/// Payment timed out: compensating, waiting on RefundPayment with token 3.
let paymentTimeoutInputs: [SagaInput] = [.reserved, .invoiced, .deadline("chargePayment", 2)]
/// Payment timed out and every compensation answered: compensated, token 4.
let paymentTimeoutCompensatedInputs = paymentTimeoutInputs + [.refunded, .cancelled, .released]

/// Applies `input` and checks it was ignored: a reason, no actions, the saga unchanged.
@discardableResult
func expectIgnored(
    _ saga: inout OrderSaga, _ input: SagaInput, sourceLocation: SourceLocation = #_sourceLocation
) -> String? {
    let before = saga
    let decision = saga.handle(input)
    #expect(decision.ignoredBecause != nil, "\(input.kind) was not ignored", sourceLocation: sourceLocation)
    #expect(decision.actions.isEmpty, sourceLocation: sourceLocation)
    #expect(saga == before, "ignoring \(input.kind) changed the saga", sourceLocation: sourceLocation)
    return decision.ignoredBecause
}

/// Applies `input` and checks it was applied with exactly `actions`.
func expectApplied(
    _ saga: inout OrderSaga, _ input: SagaInput, _ actions: [SagaAction],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let decision = saga.handle(input)
    #expect(decision.ignoredBecause == nil, "\(input.kind) was ignored", sourceLocation: sourceLocation)
    #expect(decision.actions == actions, sourceLocation: sourceLocation)
}
