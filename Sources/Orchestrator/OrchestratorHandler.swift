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
        if envelope.typeName == OrderPlaced.typeName {
            let order = try envelope.decode(OrderPlaced.self)
            return try await engine.start(order, sagaID: envelope.sagaID, causationID: envelope.messageID, on: connection, logger: logger)
        }
        guard let input = try SagaInput(envelope: envelope) else {
            throw PermanentFailure.unknownType(envelope, queue: .orchestrator)
        }
        return try await engine.apply(input, sagaID: envelope.sagaID, messageID: envelope.messageID, on: connection, logger: logger)
    }
}
