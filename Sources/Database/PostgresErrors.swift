import PostgresNIO
import _ConnectionPoolModule

extension Error {
    /// The error a transaction closure threw, unwrapped from postgres-nio's transaction error.
    public var unwrappingTransaction: any Error {
        if let transactionError = self as? PostgresTransactionError {
            return transactionError.closureError ?? transactionError.commitError ?? transactionError.beginError ?? self
        }
        return self
    }

    /// The SQLSTATE of a PostgreSQL server error, if this is one.
    public var sqlState: String? {
        (unwrappingTransaction as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The connection failed or was closed (server shutdown, terminated backend, network):
    /// worth retrying on a new connection. Client-side postgres-nio errors count as such.
    public var isConnectionFailure: Bool {
        let error = unwrappingTransaction
        if error is StalledConnectionError { return true }
        guard let psql = error as? PSQLError else { return false }
        guard let state = psql.serverInfo?[.sqlState] else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P")
    }

    /// PostgreSQL cannot serve the work right now: the connection failed, the server has no
    /// connection slot left, no connection came within the wait allowed, the pool has given up
    /// opening connections for now, or the statement lost a race or timed out. Nothing was
    /// committed, or (``CommitOutcomeUnknown``) it is not known whether it was.
    public var isDatabaseUnavailable: Bool {
        isConnectionFailure || isTransientConflict || sqlState == SQLState.tooManyConnections || isPoolGivingUp
            || unwrappingTransaction is ConnectionWaitTimedOut || unwrappingTransaction is CommitOutcomeUnknown
    }

    /// postgres-nio's pool has failed to open a connection for a while (its circuit breaker
    /// tripped) and fails requests at once until one opens again. It throws this error as it is,
    /// not as a `PSQLError`.
    public var isPoolGivingUp: Bool {
        (unwrappingTransaction as? ConnectionPoolError) == .connectionCreationCircuitBreakerTripped
    }

    /// The statement lost a race or waited too long (serialization failure, deadlock, lock or
    /// statement timeout): nothing is wrong with the work itself, and trying again later will do.
    public var isTransientConflict: Bool {
        guard let state = sqlState else { return false }
        return [SQLState.serializationFailure, SQLState.deadlockDetected, SQLState.lockNotAvailable, SQLState.queryCanceled]
            .contains(state)
    }

    /// A wait for a lock outlasted `lock_timeout`: another transaction holds a row this one needs.
    public var isLockTimeout: Bool { sqlState == SQLState.lockNotAvailable }

    /// A statement ran past `statement_timeout` (or an operator cancelled it).
    public var isStatementTimeout: Bool { sqlState == SQLState.queryCanceled }

    /// A description with the server's message, for logs and dead letters (never for clients).
    public var diagnosticDescription: String {
        let error = unwrappingTransaction
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo {
                return "PostgreSQL \(info[.sqlState] ?? "?"): \(info[.message] ?? "")"
            }
            if let underlying = psql.underlying {
                return "\(psql.code): \(underlying)"
            }
            return "PostgreSQL client error: \(psql.code)"
        }
        return String(describing: error)
    }
}

/// `COMMIT` ended the transaction without committing it (see
/// ``PostgresConnection/commit(logger:)``): an earlier statement of it had failed.
public struct TransactionRolledBack: Error, CustomStringConvertible {
    /// The command tag PostgreSQL answered `COMMIT` with (`ROLLBACK`).
    public let commandTag: String

    public var description: String {
        "COMMIT answered \(commandTag): the transaction had failed and nothing of it was committed"
    }
}

/// A statement ran, and whether its implicit transaction committed is not known: the statement
/// sent after it on the same connection to learn that outcome failed (the connection was lost,
/// or that statement itself was cancelled after a commit that went through).
public struct CommitOutcomeUnknown: Error, CustomStringConvertible {
    public let cause: any Error

    public init(cause: any Error) {
        self.cause = cause
    }

    public var description: String {
        "the commit's outcome is not known: \(cause.diagnosticDescription)"
    }
}

/// Well-known SQLSTATE codes.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let lockNotAvailable = "55P03"
    /// Also raised by `statement_timeout`.
    public static let queryCanceled = "57014"
    public static let tooManyConnections = "53300"
}
