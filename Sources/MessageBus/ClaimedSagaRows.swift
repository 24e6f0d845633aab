import Database
import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// Rows of a handler's own table for the sagas of a claimed batch, read and locked by the
/// statement that claims the batch: one round trip less per batch than claiming first and
/// locking after.
///
/// The claim locks the rows of its candidate messages' sagas (`FOR UPDATE`, in key order, as
/// the handler would alone) and skips those another transaction holds: a message whose saga's
/// row is locked elsewhere is left queued for a later batch, instead of making the batch wait
/// for the lock (a row held past the lock timeout, in an operator's open `psql` session say,
/// failed every batch that took its message, and so held up the whole queue). A message whose
/// saga has no row is claimed, as its handler may create the row. (So with several claim loops
/// a saga's later message may be handled before an earlier one that was left queued; handlers
/// take stale inputs in their stride, as they must for redeliveries.)
public protocol ClaimedSagaRows: Sendable {
    associatedtype Row: Sendable
    /// The handler's table (`schema.table`), at most one row per saga.
    static var table: String { get }
    /// Its column of saga ids.
    static var sagaKey: String { get }
    /// The columns the claim reads: first the saga id, named `saga_id`, then what ``decode(sagaID:_:)`` reads.
    static var columns: String { get }
    /// Decodes one row's columns after its saga id.
    static func decode(sagaID: UUID, _ columns: inout RowReader) throws -> Row
}

extension ClaimedSagaRows {
    /// The rows of the sagas in the claim's `claimed_sagas`, locked in key order, leaving out
    /// those another transaction holds. The claim's result is sorted, so every row is read, and
    /// locked, before the first is returned.
    static var lockingSQL: String {
        """
        SELECT \(columns) FROM \(table)
         WHERE \(sagaKey) IN (SELECT saga_id FROM claimed_sagas) ORDER BY \(sagaKey) FOR UPDATE SKIP LOCKED
        """
    }

    /// Whether the saga named by the SQL expression `sagaID` has a row (a plain read: no lock).
    static func hasRow(_ sagaID: String) -> String {
        "EXISTS (SELECT 1 FROM \(table) WHERE \(sagaKey) = \(sagaID))"
    }
}

/// A handler that starts a batch by reading rows of its own for the batch's sagas, and lets the
/// claim read them (see ``ClaimedSagaRows``).
///
/// The consumer calls ``handleBatchDeferringWrites(_:sagaRows:connection:logger:)`` for a batch
/// it claimed with the rows, and the plain ``MessageHandler/handleBatchDeferringWrites(_:connection:logger:)``
/// for a message it claimed again alone (after its batch failed), which then reads its rows itself.
public protocol SagaRowsHandler: MessageHandler {
    associatedtype SagaRows: ClaimedSagaRows

    /// As ``MessageHandler/handleBatchDeferringWrites(_:connection:logger:)``, with the rows the
    /// claim read for the sagas of the claimed messages (a saga without a row has no entry).
    func handleBatchDeferringWrites(
        _ envelopes: [Envelope], sagaRows: [UUID: SagaRows.Row], connection: PostgresConnection, logger: Logger
    ) async throws -> HandledBatch
}

/// Messages claimed in the open transaction, and how to hand them to the handler.
struct ClaimedBatch: Sendable {
    var messages: [ClaimedMessage]
    var handle: @Sendable ([Envelope], PostgresConnection, Logger) async throws -> HandledBatch
    /// Messages the claim left queued because another transaction holds their saga's row.
    var deferred = 0

    /// Messages the handler reads its own rows for.
    init(_ messages: [ClaimedMessage], for handler: any MessageHandler) {
        self.messages = messages
        handle = { envelopes, connection, logger in
            try await handler.handleBatchDeferringWrites(envelopes, connection: connection, logger: logger)
        }
    }

    /// Messages claimed with the rows `handler` wants for their sagas.
    init<Handler: SagaRowsHandler>(_ messages: [ClaimedMessage], sagaRows: [UUID: Handler.SagaRows.Row], for handler: Handler) {
        self.messages = messages
        handle = { envelopes, connection, logger in
            try await handler.handleBatchDeferringWrites(envelopes, sagaRows: sagaRows, connection: connection, logger: logger)
        }
    }
}

extension QueueStore {
    /// Claims a batch for `handler`, with the rows it wants for the batch's sagas if it says so.
    func claimBatch(for handler: any MessageHandler, queue: Queue, consumer: String, limit: Int,
                    on connection: PostgresConnection, logger: Logger) async throws -> ClaimedBatch {
        if let handler = handler as? any SagaRowsHandler {
            return try await claimBatchWithRows(for: handler, queue: queue, consumer: consumer, limit: limit, on: connection, logger: logger)
        }
        return ClaimedBatch(try await claim(queue: queue, consumer: consumer, limit: limit, on: connection, logger: logger), for: handler)
    }

    /// Opens the handler's type for the statement. (Named apart from the method above: called
    /// with an `any SagaRowsHandler`, an overload of the same name resolved to that method, which
    /// called itself until memory ran out.)
    private func claimBatchWithRows<Handler: SagaRowsHandler>(
        for handler: Handler, queue: Queue, consumer: String, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> ClaimedBatch {
        let claimed = try await claim(queue: queue, consumer: consumer, limit: limit, with: Handler.SagaRows.self,
                                      on: connection, logger: logger)
        var batch = ClaimedBatch(claimed.messages, sagaRows: claimed.rows, for: handler)
        batch.deferred = claimed.deferred
        return batch
    }

    /// As ``claim(queue:consumer:limit:on:logger:)``, locking and reading `Rows` for the claimed
    /// messages' sagas in the same statement; `deferred` counts the messages it left queued
    /// because another transaction holds their saga's row.
    public func claim<Rows: ClaimedSagaRows>(
        queue: Queue, consumer: String, limit: Int, with rows: Rows.Type, on connection: PostgresConnection, logger: Logger
    ) async throws -> (messages: [ClaimedMessage], rows: [UUID: Rows.Row], deferred: Int) {
        let results = try await connection.execute(
            BusStatements.ClaimWithRows<Rows>(claim: .init(queue: queue.rawValue, limit: limit, consumer: consumer)), logger: logger)
        var claimed: [ClaimedMessage] = []
        var sagaRows: [UUID: Rows.Row] = [:]
        var candidates = 0
        for try await (count, message, sagaRow) in results {
            candidates = count
            guard let message else { continue }
            claimed.append(Self.claimed(message))
            if let sagaRow { sagaRows[message.1] = sagaRow }
        }
        return (claimed, sagaRows, candidates - claimed.count)
    }
}
