import Logging
import NIOCore
import PostgresNIO

extension PostgresClient {
    /// Runs `body` in a transaction on a pooled connection: BEGIN (see
    /// ``PostgresConnection/beginTransaction(logger:)``), the body, COMMIT; when the body throws,
    /// ``PostgresConnection/endTransaction(after:logger:)`` rolls back. Unlike
    /// `withTransaction`, errors are thrown as they are, unwrapped.
    public func transaction<T: Sendable>(
        logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { try await $0.transaction(logger: logger, body) }
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction on this connection: BEGIN (see ``beginTransaction(logger:)``),
    /// the body, COMMIT; when the body throws, ``endTransaction(after:logger:)`` rolls back.
    public func transaction<T: Sendable>(
        logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let begun = beginTransaction(logger: logger)
        let result: T
        do {
            result = try await body(self)
            try await begun.get()
        } catch {
            await endTransaction(after: error, logger: logger)
            throw error
        }
        try await commit(logger: logger)
        return result
    }

    /// Sends `COMMIT` and waits for its answer, the transaction's outcome.
    ///
    /// The answer is awaited as a future, which no cancellation of the calling task ends: a
    /// cancellation cannot turn a commit that went through into a reported failure (whose caller
    /// would skip what follows a commit). And it is checked: in a transaction that an earlier
    /// error aborted, PostgreSQL answers `COMMIT` with the command tag `ROLLBACK` and no error,
    /// which would otherwise pass for a commit if that error had been caught and not rethrown.
    public func commit(logger: Logger) async throws {
        let answer: PostgresQueryResult = try await query("COMMIT", logger: logger).get()
        guard answer.metadata.command == "COMMIT" else { throw TransactionRolledBack(commandTag: answer.metadata.command) }
    }

    /// Sends `BEGIN` without waiting for its answer, and returns its outcome to await later.
    ///
    /// The statements sent after it on this connection are queued behind it and run inside the
    /// transaction, so the first of them costs no round trip of its own. `BEGIN` fails only on a
    /// connection that is gone, or that sits in an aborted transaction; either way, the
    /// statements queued behind it fail too, so none of them runs outside the transaction.
    public func beginTransaction(logger: Logger) -> EventLoopFuture<Void> {
        send("BEGIN", logger: logger)
    }

    /// Sends a statement without waiting for its answer, and returns its outcome to await later;
    /// the statements sent after it on this connection run after it. For statements whose
    /// failure fails the ones queued behind them too (`BEGIN`, `SAVEPOINT`).
    public func send(_ statement: PostgresQuery, logger: Logger) -> EventLoopFuture<Void> {
        let sent: EventLoopFuture<PostgresQueryResult> = query(statement, logger: logger)
        return sent.map { _ in }
    }

    /// Ends the transaction that `error` interrupted, leaving the connection fit for reuse:
    ///
    /// - after a connection failure, nothing: the server rolls back by itself, and a statement
    ///   queued on a connection being torn down may never be answered;
    /// - after a lock or statement timeout, a serialization failure or a deadlock, the connection
    ///   is closed (the server rolls back, the pool opens a new one): the statement that failed
    ///   may have been a prepared statement's first use, and postgres-nio answers every later
    ///   use of a statement whose preparation failed with that same error, on that connection,
    ///   for good;
    /// - otherwise ROLLBACK.
    public func endTransaction(after error: any Error, logger: Logger) async {
        if error.isConnectionFailure { return }
        if await closeAfterTransientConflict(error, logger: logger) { return }
        _ = try? await query("ROLLBACK", logger: logger).collect()
    }

    /// Closes the connection after a lock or statement timeout, a serialization failure or a
    /// deadlock (see ``endTransaction(after:logger:)`` for why); true if it did. For a statement
    /// that ran alone, outside a transaction, this is all there is to clean up.
    @discardableResult
    public func closeAfterTransientConflict(_ error: any Error, logger: Logger) async -> Bool {
        guard !error.isConnectionFailure, error.isTransientConflict else { return false }
        logger.debug("closing the connection after a transient failure", metadata: ["error": "\(error.diagnosticDescription)"])
        try? await close()
        return true
    }
}
