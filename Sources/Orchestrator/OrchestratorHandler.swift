import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import OrderSaga
import PostgresNIO

/// Consumes the orchestrator queue: participants' events, order placements and deadlines.
///
/// The consumer's claim also locks and reads the batch's sagas (``SagaStatements/ClaimedSagas``),
/// one round trip less per batch than locking them after the claim.
public struct OrchestratorHandler: SagaRowsHandler {
    let engine: SagaEngine

    public typealias SagaRows = SagaStatements.ClaimedSagas

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
        try await handle(envelopes, locked: nil, connection: connection, logger: logger)
    }

    /// As ``handleBatchDeferringWrites(_:connection:logger:)``, with the sagas the claim locked.
    public func handleBatchDeferringWrites(
        _ envelopes: [Envelope], sagaRows: [UUID: SagaStatements.ClaimedSagas.Row], connection: PostgresConnection, logger: Logger
    ) async throws -> HandledBatch {
        try await handle(envelopes, locked: sagaRows, connection: connection, logger: logger)
    }

    private func handle(
        _ envelopes: [Envelope], locked: [UUID: SagaStatements.ClaimedSagas.Row]?, connection: PostgresConnection, logger: Logger
    ) async throws -> HandledBatch {
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
        // Sagas this batch just started were not there for the claim to lock: then all are
        // locked again, now.
        var handled = try await engine.applyDeferringSave(inputs, locked: starts.isEmpty ? locked : nil, on: connection, logger: logger)
        handled.messages = started + handled.messages
        return handled
    }
}
