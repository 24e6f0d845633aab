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

    /// Connects to an up-to-date database and runs `body`; failures end in one line and exit 1.
    func withDatabase<T: Sendable>(
        _ label: String, _ body: @Sendable @escaping (PostgresClient, Logger) async throws -> T
    ) async throws -> T {
        let url = try database.resolve()
        let logger = logging.makeLogger(label)
        var result: T?
        try await reportingFailures {
            result = try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, reachTimeout: .seconds(5)) { client in
                try await requireMigrated(client, logger: logger)
                return try await body(client, logger)
            }
        }
        return result!
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
