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
        var outgoing = try await engine.start(starts, on: connection, logger: logger)
        if !inputs.isEmpty {
            outgoing += try await engine.apply(inputs, on: connection, logger: logger)
        }
        return outgoing
    }
}
