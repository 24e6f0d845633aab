import ArgumentParser
import Database
import EvenTicketApp
import Foundation
import Logging
import PostgresNIO

/// The options of commands that act on an existing database.
struct OperatorOptions: ParsableArguments {
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    // An operator's command shares the database with the services: a statement that runs on
    // (a large table's scan, a wait for a row a stuck transaction holds) must end on its own,
    // not only when someone notices and presses Ctrl-C. A wait for a lock counts toward it.
    @Option(parsing: .unconditional, help: "Seconds any one statement of this command may run, waiting for locks included, before the command gives up (0: no limit).")
    var statementTimeout: Double = 60

    func validate() throws {
        guard statementTimeout >= 0, statementTimeout <= 86_400 else {
            throw ValidationError("--statement-timeout must be between 0 and 86400 seconds")
        }
    }

    /// `statement_timeout` in milliseconds, as PostgreSQL takes it (0 turns it off).
    var statementTimeoutMilliseconds: Int {
        statementTimeout == 0 ? 0 : max(1, Int((statementTimeout * 1000).rounded()))
    }

    /// Connects to an up-to-date database and runs `body`; failures end in one line and exit 1.
    func withDatabase<T: Sendable>(
        _ label: String, _ body: @Sendable @escaping (PostgresClient, Logger) async throws -> T
    ) async throws -> T {
        let url = try database.resolve()
        let logger = logging.makeLogger(label)
        let timeout = statementTimeoutMilliseconds
        var result: T?
        try await reportingFailures {
            do {
                result = try await EvenTicketSystem.withDatabase(
                    url, logger: logger, migrate: false, reachTimeout: .seconds(5),
                    settings: [("statement_timeout", "\(timeout)")]
                ) { client in
                    try await requireMigrated(client, logger: logger)
                    return try await body(client, logger)
                }
            } catch where error.isStatementTimeout && timeout > 0 {
                // Without a limit, a cancellation came from elsewhere (`pg_cancel_backend`):
                // reported in the server's words.
                throw StatementTimedOut(seconds: statementTimeout)
            }
        }
        return result!
    }
}

/// A statement of an operator's command outlasted `--statement-timeout`; its transaction was
/// rolled back, so nothing of it took effect.
struct StatementTimedOut: Error, CustomStringConvertible {
    var seconds: Double
    var description: String {
        let shown = seconds.rounded() == seconds ? "\(Int(seconds))" : "\(seconds)"
        return "a statement ran longer than --statement-timeout (\(shown) s), waiting for a lock or working, and was cancelled; nothing of it took effect. "
            + "Try again, or pass a larger --statement-timeout (0 for no limit)"
    }
}

/// A UUID on the command line, rejected with a clear message when it is not one.
struct UUIDArgument: ExpressibleByArgument, Sendable {
    let value: UUID
    init?(argument: String) {
        guard let value = UUID(uuidString: argument) else { return nil }
        self.value = value
    }
}

/// Something the command was asked about does not exist (exit 1, one line).
struct NotFound: Error, CustomStringConvertible {
    var description: String
}

/// Fails unless the schema is up to date: operator commands never migrate by surprise.
func requireMigrated(_ client: PostgresClient, logger: Logger) async throws {
    let pending = try await Migrator().pending(on: client, logger: logger)
    guard pending.isEmpty else {
        throw MigrationError(reason: "the database has pending migrations (\(pending.map(\.name).joined(separator: ", "))); run `eventicket migrate`")
    }
}

func printJSON<T: Encodable>(_ value: T, pretty: Bool) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
