import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs `body` in a transaction on a pooled connection: BEGIN, the body, COMMIT; ROLLBACK
    /// when the body throws. Unlike `withTransaction`, it sends nothing more on a connection that
    /// failed (the server rolls back by itself there), since a statement queued on a connection
    /// that is being torn down may never be answered. Errors are thrown as they are, unwrapped.
    public func transaction<T: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            _ = try await connection.query("BEGIN", logger: logger).collect()
            let result: T
            do {
                result = try await body(connection)
            } catch {
                if !error.isConnectionFailure {
                    _ = try? await connection.query("ROLLBACK", logger: logger).collect()
                }
                throw error
            }
            _ = try await connection.query("COMMIT", logger: logger).collect()
            return result
        }
    }
}
