import Database
import Foundation
import Logging
import MessageBus
import OrderSaga
import PostgresNIO

/// Operator actions on sagas.
public struct SagaOperations: Sendable {
    let client: PostgresClient
    let engine: SagaEngine

    public init(client: PostgresClient, engine: SagaEngine) {
        self.client = client
        self.engine = engine
    }

    public enum RetryOutcome: Sendable, Equatable {
        /// The saga compensates again from the step that failed.
        case resumed
        /// The saga was not failed; nothing changed.
        case notFailed(state: String)
        case notFound
    }

    /// Resumes a failed saga's compensation, in one transaction with the commands it sends.
    public func retry(_ sagaID: UUID, logger: Logger) async throws -> RetryOutcome {
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query("SELECT state FROM orchestrator.sagas WHERE id = \(sagaID) FOR UPDATE", logger: logger)
            guard let state = try await rows.decode(String.self).lastElement() else { return .notFound }
            guard state == SagaState.failed.rawValue else { return .notFailed(state: state) }
            let outgoing = try await engine.apply(.operatorRetry, sagaID: sagaID, messageID: nil, on: connection, logger: logger)
            // An operator's command, from a process that may run no notifier: its commit notifies.
            try await MessagePublisher.publish(outgoing, notifyAtCommit: true, on: connection, logger: logger)
            return .resumed
        }
    }
}
