import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import OrderSaga
import Ordering
import PostgresNIO

/// Runs the order saga state machine against the saga store, inside the caller's transaction:
/// load and lock the sagas, apply the inputs, store the new states, their history and their
/// deadlines (and settle the orders of the sagas that ended), and return the messages their
/// actions publish (in that same transaction).
///
/// Everything works on batches: one statement per table, whatever the number of sagas.
public struct SagaEngine: Sendable {
    /// How long a stage of forward steps may take before the saga compensates.
    public var stepTimeout: Duration
    /// How long a stage's compensations may take before the unanswered ones are sent again.
    public var compensationTimeout: Duration
    let store = SagaStore()
    let endings = SagaEndings()

    public init(stepTimeout: Duration = .seconds(30), compensationTimeout: Duration? = nil) {
        self.stepTimeout = stepTimeout
        self.compensationTimeout = compensationTimeout ?? stepTimeout
    }

    /// A saga to start.
    public struct Start: Sendable {
        public var order: OrderPlaced
        public var sagaID: UUID
        /// The message that asked for it, if any.
        public var causationID: UUID?

        public init(order: OrderPlaced, sagaID: UUID, causationID: UUID? = nil) {
            self.order = order
            self.sagaID = sagaID
            self.causationID = causationID
        }
    }

    /// An input for one saga.
    public struct Input: Sendable {
        public var sagaID: UUID
        public var input: SagaInput
        /// The message that carried it, if any.
        public var messageID: UUID?

        public init(sagaID: UUID, input: SagaInput, messageID: UUID?) {
            self.sagaID = sagaID
            self.input = input
            self.messageID = messageID
        }
    }

    /// Sagas to start, worked out without the database: each saga's first state, history,
    /// deadline and messages.
    public struct StartPlan: Sendable {
        let changes: [SagaStore.Change]
        let messages: [UUID: [OutgoingMessage]]

        /// The first messages of the given sagas, saga by saga.
        public func messages(of sagaIDs: some Sequence<UUID>) -> [OutgoingMessage] {
            sagaIDs.flatMap { messages[$0] ?? [] }
        }

        /// The first messages of every saga of the plan.
        public var allMessages: [OutgoingMessage] {
            messages(of: changes.map(\.saga.id))
        }
    }

    /// Plans the sagas of placed orders (a saga id given twice is planned once).
    public func plan(_ starts: [Start]) -> StartPlan {
        var changes: [SagaStore.Change] = []
        var messages: [UUID: [OutgoingMessage]] = [:]
        for start in starts where messages[start.sagaID] == nil {
            let (saga, actions) = OrderSaga.start(id: start.sagaID, order: start.order)
            let (first, deadline, _) = effects(of: actions, saga: saga, causationID: start.causationID)
            var history = [SagaStore.HistoryEntry(kind: "started", message: OrderPlaced.name, messageID: start.causationID,
                                                  detail: ["orderId": start.order.orderID.text])]
            history += first.map(sentEntry)
            var change = SagaStore.Change(saga: saga, transitionCount: 0, deadline: deadline)
            change.record(history)
            changes.append(change)
            messages[start.sagaID] = first
        }
        return StartPlan(changes: changes, messages: messages)
    }

    /// Creates the sagas of placed orders and returns their first messages. Starting a saga
    /// that exists already does nothing.
    public func start(_ starts: [Start], on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        let plan = plan(starts)
        let created = try await store.start(plan.changes, on: connection, logger: logger)
        return plan.messages(of: plan.changes.map(\.saga.id).filter(created.contains))
    }

    /// Applies inputs in order and returns the messages to publish. An input for a saga that
    /// does not exist is a ``PermanentFailure``.
    public func apply(_ inputs: [Input], on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        let (outgoing, changes) = try await transitions(inputs, on: connection, logger: logger)
        try await store.save(changes, on: connection, logger: logger)
        return outgoing
    }

    /// As ``apply(_:on:logger:)``, but leaves storing the sagas to the statement that publishes
    /// the returned messages (the consumer's, before it commits): one round trip less.
    /// With `locked`, the inputs' sagas as the claim read and locked them (a saga missing there
    /// does not exist); without, they are locked here first.
    public func applyDeferringSave(_ inputs: [Input], locked: [UUID: SagaStatements.ClaimedSagas.Row]? = nil,
                                   on connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        let (outgoing, changes) = try await transitions(inputs, locked: locked, on: connection, logger: logger)
        let writes: (any FinalWrites)? = changes.isEmpty ? nil : SagaStore.saveWrites(changes)
        return HandledBatch(messages: outgoing, finalWrites: writes, onCommit: countingEndings(of: changes))
    }

    /// Counts the sagas that `changes` ended: to run once their transaction has committed.
    private func countingEndings(of changes: [SagaStore.Change]) -> @Sendable () -> Void {
        let (ended, endings) = (changes.flatMap(\.endings), self.endings)
        return { endings.count(ended) }
    }

    /// Locks the inputs' sagas and applies the inputs in order: the messages to publish and the
    /// changes to store.
    private func transitions(_ inputs: [Input], locked: [UUID: SagaStatements.ClaimedSagas.Row]? = nil,
                             on connection: PostgresConnection, logger: Logger) async throws
        -> (messages: [OutgoingMessage], changes: [SagaStore.Change]) {
        var stored: [UUID: SagaStore.Stored]
        if let locked {
            stored = try store.restore(locked)
        } else {
            stored = try await store.lock(inputs.map(\.sagaID), on: connection, logger: logger)
        }
        var changed: [UUID: SagaStore.Change] = [:]
        var order: [UUID] = []
        var outgoing: [OutgoingMessage] = []
        for item in inputs {
            guard let current = stored[item.sagaID] else {
                throw PermanentFailure("no saga \(item.sagaID) for \(item.input.kind)")
            }
            var change = changed[item.sagaID]
                ?? SagaStore.Change(saga: current.saga, transitionCount: current.transitionCount, deadline: .keep)
            if changed[item.sagaID] == nil { order.append(item.sagaID) }
            outgoing += transition(&change, item.input, messageID: item.messageID)
            changed[item.sagaID] = change
            stored[item.sagaID]?.saga = change.saga
        }
        return (outgoing, order.compactMap { changed[$0] })
    }

    /// Applies one input to one saga.
    public func apply(_ input: SagaInput, sagaID: UUID, messageID: UUID?, on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await apply([Input(sagaID: sagaID, input: input, messageID: messageID)], on: connection, logger: logger)
    }

    /// What ``fireDeadlines(limit:on:logger:)`` did.
    public struct FiredDeadlines: Sendable {
        /// The messages to publish.
        public var messages: [OutgoingMessage]
        /// How many alarms it handled (fewer than the limit: nothing more is due, or the rest
        /// belong to sagas other transactions hold).
        public var count: Int
        /// Runs once the caller's transaction has committed: counts the sagas it ended.
        public var onCommit: @Sendable () -> Void
    }

    /// Fires the deadlines that have passed, looking at up to `limit` rung alarms.
    public func fireDeadlines(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> FiredDeadlines {
        try await fire(store.lockDue(limit: limit, on: connection, logger: logger), on: connection, logger: logger)
    }

    /// As ``fireDeadlines(limit:on:logger:)``, for the sagas `ids` of rung alarms only.
    func fireDeadlines(of ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> FiredDeadlines {
        try await fire(store.lockDue(ids, on: connection, logger: logger), on: connection, logger: logger)
    }

    /// The sagas of the oldest rung alarms, up to `limit`, without locking them.
    func rungAlarms(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        try await store.rungAlarms(limit: limit, on: connection, logger: logger)
    }

    /// Moves the rung alarm of saga `id` `delay` ahead, under the saga's lock; see
    /// ``DeadlineSweeper``.
    func putOffAlarm(of id: UUID, by delay: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await store.putOff(id, by: delay, on: connection, logger: logger)
    }

    private func fire(_ locked: (due: [SagaStore.Stored], handled: Int), on connection: PostgresConnection, logger: Logger) async throws -> FiredDeadlines {
        let (due, handled) = locked
        var changes: [SagaStore.Change] = []
        var outgoing: [OutgoingMessage] = []
        for stored in due {
            guard let token = stored.dueToken else { continue }
            var change = SagaStore.Change(saga: stored.saga, transitionCount: stored.transitionCount, deadline: .keep)
            let deadline = StepDeadlineReached(step: stored.saga.step.name, token: token)
            outgoing += transition(&change, .deadlineReached(deadline), messageID: nil)
            // A deadline that changed nothing must not fire again.
            if change.deadline == .keep { change.deadline = .clear }
            changes.append(change)
        }
        try await store.save(changes, on: connection, logger: logger)
        return FiredDeadlines(messages: outgoing, count: handled, onCommit: countingEndings(of: changes))
    }

    /// Runs the state machine for one input, recording the transition (one row of history) and
    /// the deadline it implies.
    private func transition(_ change: inout SagaStore.Change, _ input: SagaInput, messageID: UUID?) -> [OutgoingMessage] {
        let before = change.saga
        let decision = change.saga.handle(input)
        if let why = decision.ignoredBecause {
            change.record([.init(kind: "ignored", message: input.kind, messageID: messageID, detail: ["why": why])])
            return []
        }
        let (outgoing, deadline, outcome) = effects(of: decision.actions, saga: change.saga, causationID: messageID)
        var history = [SagaStore.HistoryEntry(kind: "received", message: input.kind, messageID: messageID)]
        if change.saga.state != before.state {
            var detail = ["from": before.state.rawValue, "to": change.saga.state.rawValue]
            detail["reason"] = change.saga.reason
            detail["failure"] = change.saga.failure
            history.append(.init(kind: "state", message: change.saga.state.rawValue, detail: detail))
            if change.saga.state.isTerminal { change.endings.append(change.saga.state) }
        }
        history += outgoing.map(sentEntry)
        if let outcome {
            var detail = ["orderId": outcome.orderID.text]
            detail["reason"] = outcome.reason
            history.append(.init(kind: "order", message: outcome.status.rawValue, detail: detail))
            change.outcome = outcome
        }
        change.record(history)
        if deadline != .keep { change.deadline = deadline }
        return outgoing
    }

    /// The messages a transition's actions publish, what happens to the saga's deadline, and
    /// the outcome to record on the saga's order (in the statement that stores the saga).
    private func effects(of actions: [SagaAction], saga: OrderSaga, causationID: UUID?)
        -> ([OutgoingMessage], SagaStore.DeadlineChange, OrderStore.Outcome?) {
        var deadline: SagaStore.DeadlineChange = switch saga.state {
        case .completed, .compensated, .failed: .clear
        case .running, .compensating: .keep
        }
        var messages: [OutgoingMessage] = []
        var outcome: OrderStore.Outcome?
        for action in actions {
            switch action {
            case .send(let command):
                messages.append(OutgoingMessage(envelope: command.envelope(sagaID: saga.id, causationID: causationID), queue: command.destination))
            case .scheduleDeadline(let step):
                let timeout = CompensationStep(rawValue: step.step) == nil ? stepTimeout : compensationTimeout
                deadline = .set(after: timeout, token: step.token)
            case .confirmOrder(let event):
                outcome = .init(orderID: event.orderID, status: .confirmed, reason: nil)
            case .rejectOrder(let event):
                outcome = .init(orderID: event.orderID, status: .rejected, reason: event.reason)
            }
        }
        return (messages, deadline, outcome)
    }

    private func sentEntry(_ message: OutgoingMessage) -> SagaStore.HistoryEntry {
        // `Name.vN` without its version (a plain scan: Foundation's `components` cost more than the rest of the entry).
        let type = message.envelope.typeName
        let name = type.lastIndex(of: ".").map { String(type[..<$0]) } ?? type
        return .init(kind: "sent", message: name, messageID: message.envelope.messageID, detail: ["queue": message.queue.rawValue])
    }
}
