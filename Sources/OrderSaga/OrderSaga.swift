import EvenTicketContracts
import Foundation

/// The order saga as a pure state machine: an input in, the new state and the actions out.
///
/// Steps run forward in ``ForwardStep/stages``: tickets are reserved and the invoice created side
/// by side, then the payment is charged. When a step fails or its stage's deadline passes, every
/// step that finished or may have (one still under way in the stage) is compensated, stage by
/// stage in the reverse of the forward order, the steps of one stage side by side. A
/// compensation whose reply does not come before its deadline is sent again, at most
/// ``maxCompensationAttempts`` sends in all; after that the saga is `failed` (with ``failure``
/// saying why) and waits for an operator, or for the late reply, either of which lets it carry
/// on compensating.
///
/// Every input is safe to receive twice or out of order: replies are matched against the steps
/// the saga waits on (those of its stage still unanswered), deadlines carry the ``token`` they
/// were set with, and a success that arrives after the saga turned back is answered with that
/// step's compensation.
public struct OrderSaga: Sendable, Equatable, Codable {
    /// Sends of one stage's compensations (the first and the resends) before the saga is marked failed.
    public static let maxCompensationAttempts = 5

    public let id: UUID
    public let order: OrderPlaced
    public private(set) var state: SagaState
    /// The step it waits on: while a stage runs, the first of its steps that has not answered.
    public private(set) var step: SagaStep
    /// Forward steps that finished, in the order they finished.
    public private(set) var finishedSteps: [ForwardStep]
    /// Forward steps still to compensate, in the reverse of the forward order: those of the
    /// first one's stage are being compensated (``compensatingSteps``).
    public private(set) var compensationQueue: [ForwardStep]
    /// Why the saga turned back: the order's rejection reason (`payment_declined`, …).
    public private(set) var reason: String?
    /// Set while the saga is `failed`: which compensation went unanswered.
    public private(set) var failure: String?
    /// Incremented whenever the saga sends a stage's commands or compensations (not when it
    /// moves on to the stage's other step); deadlines carry it.
    public private(set) var token: Int
    /// Sends of the current stage's compensations.
    public private(set) var compensationAttempts: Int

    /// A saga as it was stored: its immutable order and its progress.
    public static func restoring(
        id: UUID, order: OrderPlaced, state: SagaState, step: SagaStep, finishedSteps: [ForwardStep],
        compensationQueue: [ForwardStep], reason: String?, failure: String?, token: Int, compensationAttempts: Int
    ) -> OrderSaga {
        OrderSaga(
            id: id, order: order, state: state, step: step, finishedSteps: finishedSteps, compensationQueue: compensationQueue,
            reason: reason, failure: failure, token: token, compensationAttempts: compensationAttempts)
    }

    /// The saga of a newly placed order, and the actions that start it.
    public static func start(id: UUID, order: OrderPlaced) -> (OrderSaga, [SagaAction]) {
        var saga = OrderSaga(
            id: id, order: order, state: .running, step: .forward(.reserveTickets),
            finishedSteps: [], compensationQueue: [], reason: nil, failure: nil, token: 0, compensationAttempts: 0
        )
        let actions = saga.enter(ForwardStep.stages[0])
        return (saga, actions)
    }

    /// The result of handling one input.
    public struct Decision: Sendable, Equatable {
        /// What the worker must do, in order.
        public var actions: [SagaAction]
        /// Set when the input changed nothing: why it was ignored.
        public var ignoredBecause: String?

        static func ignored(_ why: String) -> Decision { Decision(actions: [], ignoredBecause: why) }
        static func applied(_ actions: [SagaAction]) -> Decision { Decision(actions: actions, ignoredBecause: nil) }
    }

    /// Applies one input.
    public mutating func handle(_ input: SagaInput) -> Decision {
        switch input {
        case .ticketsReserved:
            return forwardSucceeded(.reserveTickets)
        case .invoiceCreated:
            return forwardSucceeded(.createInvoice)
        case .paymentCharged:
            return forwardSucceeded(.chargePayment)
        case .ticketsUnavailable(let event):
            return forwardFailed(.reserveTickets, reason: event.reason)
        case .paymentFailed(let event):
            return forwardFailed(.chargePayment, reason: event.reason)
        case .ticketsReleased:
            return compensationSucceeded(.releaseTickets)
        case .invoiceCancelled:
            return compensationSucceeded(.cancelInvoice)
        case .paymentRefunded:
            return compensationSucceeded(.refundPayment)
        case .deadlineReached(let deadline):
            return deadlinePassed(deadline)
        case .operatorRetry:
            return retryCompensation()
        }
    }

    // MARK: Forward path

    private mutating func forwardSucceeded(_ finished: ForwardStep) -> Decision {
        if state == .running, awaitedSteps.contains(finished) {
            finishedSteps.append(finished)
            // The other steps of the stage are still on their way: wait on the first of them,
            // under the stage's deadline.
            if let next = awaitedSteps.first {
                step = .forward(next)
                return .applied([])
            }
            guard let nextStage = ForwardStep.stages.first(where: { $0.contains { !finishedSteps.contains($0) } }) else {
                state = .completed
                step = .finished
                return .applied([.confirmOrder(OrderConfirmed(orderID: order.orderID))])
            }
            return .applied(enter(nextStage))
        }
        if state == .running || state == .completed {
            return .ignored("duplicate \(finished.rawValue) reply")
        }
        // The saga has turned back. The step's effect exists after all: undo it, unless the
        // compensation still to come will do that anyway.
        if compensationQueue.contains(finished) {
            return .ignored("\(finished.rawValue) will be compensated")
        }
        return .applied([.send(compensationCommand(for: finished.compensation))])
    }

    private mutating func forwardFailed(_ failed: ForwardStep, reason: String) -> Decision {
        guard state == .running, awaitedSteps.contains(failed) else {
            return .ignored("\(failed.rawValue) failure while not waiting on it")
        }
        // The stage's other steps still under way may take effect: they are undone too.
        return .applied(beginCompensation(reason: reason, including: awaitedSteps.filter { $0 != failed }))
    }

    /// The steps of the current stage that have not answered yet (none unless running).
    public var awaitedSteps: [ForwardStep] {
        guard state == .running, case .forward(let current) = step else { return [] }
        return current.stage.filter { !finishedSteps.contains($0) }
    }

    /// Starts a stage: sends all its commands, under one deadline (named for its first step).
    private mutating func enter(_ stage: [ForwardStep]) -> [SagaAction] {
        step = .forward(stage[0])
        token += 1
        return stage.map { .send(command(for: $0)) } + [.scheduleDeadline(StepDeadlineReached(step: stage[0].rawValue, token: token))]
    }

    private func command(for step: ForwardStep) -> SagaCommand {
        switch step {
        case .reserveTickets:
            .reserveTickets(ReserveTickets(orderID: order.orderID, eventID: order.eventID, lines: order.lines))
        case .createInvoice:
            .createInvoice(CreateInvoice(
                orderID: order.orderID, customerID: order.customerID,
                amountCents: order.totalCents, currency: order.currency))
        case .chargePayment:
            .chargePayment(ChargePayment(
                orderID: order.orderID, amountCents: order.totalCents,
                currency: order.currency, paymentToken: order.paymentToken))
        }
    }

    // MARK: Compensation path

    /// Turns back: compensates every finished step, and the `uncertain` ones (steps still under
    /// way, which may take effect), in the reverse of the forward path's order.
    private mutating func beginCompensation(reason: String, including uncertain: [ForwardStep]) -> [SagaAction] {
        self.reason = reason
        let toUndo = finishedSteps + uncertain
        compensationQueue = ForwardStep.allCases.reversed().filter(toUndo.contains)
        state = .compensating
        return compensateNext()
    }

    /// Compensates the next stage of the queue, or ends the saga when nothing is left.
    private mutating func compensateNext() -> [SagaAction] {
        guard !compensationQueue.isEmpty else {
            state = .compensated
            step = .finished
            return [.rejectOrder(OrderRejected(orderID: order.orderID, reason: reason ?? "rejected"))]
        }
        compensationAttempts = 1
        return sendCompensations()
    }

    /// The steps being undone now: those of the queue in the same stage as its first. Steps that
    /// ran side by side are undone side by side; stages are undone one after the other.
    public var compensatingSteps: [ForwardStep] {
        guard state == .compensating || state == .failed, let first = compensationQueue.first else { return [] }
        return compensationQueue.filter(first.stage.contains)
    }

    /// Sends the compensations of the current stage that have not been answered, under one
    /// deadline (named for the first of them).
    private mutating func sendCompensations() -> [SagaAction] {
        let steps = compensatingSteps.map(\.compensation)
        step = .compensation(steps[0])
        token += 1
        return steps.map { .send(compensationCommand(for: $0)) }
            + [.scheduleDeadline(StepDeadlineReached(step: steps[0].rawValue, token: token))]
    }

    private mutating func compensationSucceeded(_ done: CompensationStep) -> Decision {
        // A failed saga still waits on its stuck steps: a late reply lets it carry on.
        guard compensatingSteps.contains(done.undoes) else {
            return .ignored("\(done.rawValue) reply while not waiting on it")
        }
        compensationQueue.removeAll { $0 == done.undoes }
        // Another compensation of the stage is still under way: wait on it. A failed saga whose
        // other compensation went unanswered too stays failed, now for that one.
        if let next = compensatingSteps.first, next.stage.contains(done.undoes) {
            step = .compensation(next.compensation)
            if state == .failed { failure = Self.failure(next.compensation, attempts: compensationAttempts) }
            return .applied([])
        }
        state = .compensating
        failure = nil
        return .applied(compensateNext())
    }

    private mutating func retryCompensation() -> Decision {
        guard state == .failed, !compensationQueue.isEmpty else {
            return .ignored("only a failed saga can be retried")
        }
        state = .compensating
        failure = nil
        compensationAttempts = 1
        return .applied(sendCompensations())
    }

    private static func failure(_ step: CompensationStep, attempts: Int) -> String {
        "compensation_failed: \(step.rawValue) unanswered after \(attempts) attempts"
    }

    private func compensationCommand(for step: CompensationStep) -> SagaCommand {
        switch step {
        case .releaseTickets: .releaseTickets(ReleaseTickets(orderID: order.orderID))
        case .cancelInvoice: .cancelInvoice(CancelInvoice(orderID: order.orderID))
        case .refundPayment: .refundPayment(RefundPayment(orderID: order.orderID))
        }
    }

    // MARK: Deadlines

    private mutating func deadlinePassed(_ deadline: StepDeadlineReached) -> Decision {
        // A stage's deadline is named for its first step, and stays while the saga waits on the others.
        let current = switch step {
        case .forward(let waiting): waiting.stage.map(\.rawValue)
        case .compensation(let waiting): waiting.undoes.stage.map(\.compensation.rawValue)
        case .finished: [step.name]
        }
        guard deadline.token == token, current.contains(deadline.step) else {
            return .ignored("stale deadline for \(deadline.step)")
        }
        switch (state, step) {
        case (.running, .forward(let waiting)):
            return .applied(beginCompensation(reason: waiting.timeoutReason, including: awaitedSteps))
        case (.compensating, .compensation(let waiting)):
            guard compensationAttempts < Self.maxCompensationAttempts else {
                state = .failed
                failure = Self.failure(waiting, attempts: compensationAttempts)
                return .applied([.rejectOrder(OrderRejected(orderID: order.orderID, reason: reason ?? "rejected"))])
            }
            compensationAttempts += 1
            return .applied(sendCompensations())
        default:
            return .ignored("deadline in state \(state.rawValue)")
        }
    }
}
