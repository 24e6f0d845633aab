import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import OrderSaga
import PostgresNIO

/// Runs the order saga state machine against the saga store, inside the caller's transaction:
/// load and lock the saga, apply the input, store the new state and its history, and return
/// the messages its actions publish (in that same transaction).
public struct SagaEngine: Sendable {
    /// How long a forward step may take before the saga compensates.
    public var stepTimeout: Duration
    /// How long a compensation may take before it is sent again.
    public var compensationTimeout: Duration
    let store = SagaStore()

    public init(stepTimeout: Duration = .seconds(30), compensationTimeout: Duration? = nil) {
        self.stepTimeout = stepTimeout
        self.compensationTimeout = compensationTimeout ?? stepTimeout
    }

    /// Creates the saga of a placed order and returns its first messages. Starting the same
    /// saga twice does nothing the second time.
    public func start(_ order: OrderPlaced, sagaID: UUID, causationID: UUID?, on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        let (saga, actions) = OrderSaga.start(id: sagaID, order: order)
        guard try await store.insert(saga, on: connection, logger: logger) else { return [] }
        let outgoing = messages(for: actions, saga: saga, causationID: causationID)
        var history = [SagaStore.HistoryEntry(kind: "started", message: OrderPlaced.name, messageID: causationID,
                                              detail: ["orderId": order.orderID.uuidString])]
        history += outgoing.map(sentEntry)
        try await store.appendHistory(history, sagaID: sagaID, on: connection, logger: logger)
        return outgoing
    }

    /// Applies one input to a saga and returns the messages to publish.
    public func apply(_ input: SagaInput, sagaID: UUID, messageID: UUID?, on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        guard var saga = try await store.lock(sagaID, on: connection, logger: logger) else {
            throw PermanentFailure("no saga \(sagaID) for \(input.kind)")
        }
        let before = saga
        let decision = saga.handle(input)
        if let why = decision.ignoredBecause {
            try await store.appendHistory(
                [.init(kind: "ignored", message: input.kind, messageID: messageID, detail: ["why": why])],
                sagaID: sagaID, on: connection, logger: logger)
            return []
        }
        let outgoing = messages(for: decision.actions, saga: saga, causationID: messageID)
        var history = [SagaStore.HistoryEntry(kind: "received", message: input.kind, messageID: messageID)]
        if saga.state != before.state {
            var detail = ["from": before.state.rawValue, "to": saga.state.rawValue]
            detail["reason"] = saga.reason
            detail["failure"] = saga.failure
            history.append(.init(kind: "state", message: saga.state.rawValue, detail: detail))
        }
        history += outgoing.map(sentEntry)
        try await store.update(saga, on: connection, logger: logger)
        try await store.appendHistory(history, sagaID: sagaID, on: connection, logger: logger)
        return outgoing
    }

    private func messages(for actions: [SagaAction], saga: OrderSaga, causationID: UUID?) -> [OutgoingMessage] {
        actions.map { action in
            switch action {
            case .send(let command):
                OutgoingMessage(envelope: command.envelope(sagaID: saga.id, causationID: causationID), queue: command.destination)
            case .scheduleDeadline(let deadline):
                OutgoingMessage(deadline, sagaID: saga.id, causationID: causationID,
                                delay: CompensationStep(rawValue: deadline.step) == nil ? stepTimeout : compensationTimeout)
            case .confirmOrder(let event):
                OutgoingMessage(event, sagaID: saga.id, causationID: causationID)
            case .rejectOrder(let event):
                OutgoingMessage(event, sagaID: saga.id, causationID: causationID)
            }
        }
    }

    private func sentEntry(_ message: OutgoingMessage) -> SagaStore.HistoryEntry {
        var detail = ["queue": message.queue.rawValue]
        if message.delay > .zero { detail["delay"] = "\(message.delay)" }
        let name = message.envelope.typeName.components(separatedBy: ".v").first ?? message.envelope.typeName
        return .init(kind: "sent", message: name, messageID: message.envelope.messageID, detail: detail)
    }
}
