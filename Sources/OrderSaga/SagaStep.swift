/// The forward steps of the order saga, in order. Each has a compensation.
public enum ForwardStep: String, Codable, Sendable, CaseIterable {
    case reserveTickets
    case createInvoice
    case chargePayment

    /// The forward path in stages. The steps of one stage need nothing from each other, so they
    /// are sent together and run side by side; the next stage starts once all of them succeeded.
    /// Tickets are reserved and the invoice created at once, and only then is the payment charged.
    public static let stages: [[ForwardStep]] = [[.reserveTickets, .createInvoice], [.chargePayment]]

    /// The stage this step belongs to.
    public var stage: [ForwardStep] {
        Self.stages.first { $0.contains(self) } ?? [self]
    }

    /// The step that undoes this one.
    public var compensation: CompensationStep {
        switch self {
        case .reserveTickets: .releaseTickets
        case .createInvoice: .cancelInvoice
        case .chargePayment: .refundPayment
        }
    }

    /// The order's rejection reason when this step's deadline passes.
    public var timeoutReason: String {
        switch self {
        case .reserveTickets: "reservation_timeout"
        case .createInvoice: "invoice_timeout"
        case .chargePayment: "payment_timeout"
        }
    }
}

/// The compensating steps, each undoing one ``ForwardStep``.
public enum CompensationStep: String, Codable, Sendable, CaseIterable {
    case releaseTickets
    case cancelInvoice
    case refundPayment

    /// The forward step this one undoes.
    public var undoes: ForwardStep {
        switch self {
        case .releaseTickets: .reserveTickets
        case .cancelInvoice: .createInvoice
        case .refundPayment: .chargePayment
        }
    }
}

/// Where a saga stands: the step it waits on, if any.
public enum SagaStep: Codable, Sendable, Hashable {
    case forward(ForwardStep)
    case compensation(CompensationStep)
    case finished

    /// A stable name, as stored in the database and shown by the API.
    public var name: String {
        switch self {
        case .forward(let step): step.rawValue
        case .compensation(let step): step.rawValue
        case .finished: "finished"
        }
    }

    public init?(name: String) {
        if let step = ForwardStep(rawValue: name) {
            self = .forward(step)
        } else if let step = CompensationStep(rawValue: name) {
            self = .compensation(step)
        } else if name == "finished" {
            self = .finished
        } else {
            return nil
        }
    }
}

/// The saga's lifecycle state.
public enum SagaState: String, Codable, Sendable, CaseIterable {
    /// Moving forward through the steps.
    case running
    /// Undoing finished steps, stage by stage in reverse order.
    case compensating
    /// Every step succeeded; the order is confirmed.
    case completed
    /// Every finished step was undone; the order is rejected.
    case compensated
    /// A compensation kept failing; an operator must look at it.
    case failed

    /// Completed, compensated and failed sagas take no more forward steps.
    public var isTerminal: Bool {
        switch self {
        case .running, .compensating: false
        case .completed, .compensated, .failed: true
        }
    }
}
