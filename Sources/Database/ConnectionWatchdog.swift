import Logging
import PostgresNIO
import ServiceLifecycle

/// Bounds how long work may wait on one connection.
///
/// Cancelling a task does not stop a statement it awaits, and a connection can stall without
/// failing (seen under chaos: a batch waited 48 s on a connection whose server had gone). The
/// watchdog closes the connection when the work takes longer than `timeout`, or, once a graceful
/// shutdown has begun, longer than `drain` after it: closing fails whatever waits on the
/// connection, the server rolls back its transaction, and the pool opens a new one.
public struct ConnectionWatchdog: Sendable {
    public var timeout: Duration
    public var drain: Duration
    public var logger: Logger

    public init(timeout: Duration, drain: Duration, logger: Logger) {
        self.timeout = timeout
        self.drain = drain
        self.logger = logger
    }

    /// Runs `work` on `connection` under the watchdog.
    public func run<T: Sendable>(
        on connection: PostgresConnection, _ what: String, _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await expiry()
                logger.warning("closing a stalled connection", metadata: ["work": "\(what)", "after": "\(timeout)"])
                try? await connection.close()
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
            }
            throw CancellationError()
        }
    }

    /// Returns after `timeout`, or `drain` after a graceful shutdown began, whichever is first;
    /// throws when cancelled.
    private func expiry() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Task.sleep(for: timeout) }
            group.addTask {
                try await gracefulShutdown()
                try await Task.sleep(for: drain)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
