import EvenTicketContracts
import Logging
import MessageBus
import OrderSaga
import PostgresNIO

/// Consumes the orchestrator queue: participants' events, order placements and deadlines.
public struct OrchestratorHandler: MessageHandler {
    let engine: SagaEngine

    public init(engine: SagaEngine) {
        self.engine = engine
    }

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    /// Starts the sagas of placed orders, then applies every other input in delivery order.
    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatchDeferringWrites(envelopes, connection: connection, logger: logger).writingNow(on: connection, logger: logger)
    }

    /// As ``handleBatch(_:connection:logger:)``, leaving the sagas' new states to the statement
    /// that publishes the returned messages.
    public func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        var starts: [SagaEngine.Start] = []
        var inputs: [SagaEngine.Input] = []
        for envelope in envelopes {
            if envelope.typeName == OrderPlaced.typeName {
                let order = try envelope.decode(OrderPlaced.self)
                starts.append(.init(order: order, sagaID: envelope.sagaID, causationID: envelope.messageID))
                continue
            }
            guard let input = try SagaInput(envelope: envelope) else {
                throw PermanentFailure.unknownType(envelope, queue: .orchestrator)
            }
            inputs.append(.init(sagaID: envelope.sagaID, input: input, messageID: envelope.messageID))
        }
        let started = try await engine.start(starts, on: connection, logger: logger)
        guard !inputs.isEmpty else { return HandledBatch(messages: started) }
        var handled = try await engine.applyDeferringSave(inputs, on: connection, logger: logger)
        handled.messages = started + handled.messages
        return handled
    }
}
