import Database
import EmbeddedPostgres
import Foundation
import Logging
import PostgresNIO

/// Databases for tests: a fresh, migrated database per test on one PostgreSQL server.
///
/// The server is `$DATABASE_URL` when set; otherwise a throwaway server this process starts
/// (as the `postgres` user when running as root, fsync off) and stops when it exits. Migrations
/// run once into a template database; each test's database is a copy of it, which is much
/// faster than migrating every time.
public actor TestDatabases {
    public static let shared = TestDatabases()

    private var template: Task<(server: DatabaseURL, template: String), any Error>?

    /// A new migrated database for one test.
    public func makeDatabase() async throws -> DatabaseURL {
        if template == nil {
            template = Task { try await Self.prepareTemplate() }
        }
        let (server, template) = try await template!.value
        let name = "et_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        var attempt = 0
        while true {
            do {
                try await DatabaseAdmin.createDatabaseIfMissing(name, server: server, template: template, logger: TestLogger.make())
                return server.with(database: name)
            } catch where attempt < 20 && error.sqlState == "55006" {
                // The template's last connection is still closing.
                attempt += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Runs `body` with a new migrated database, and drops that database afterwards, whatever
    /// `body` did: on a server of `$DATABASE_URL`, which outlives the run, the suite would
    /// otherwise leave a database per test behind. (`body` must have closed its connections;
    /// any left are ended.)
    public nonisolated func withDatabase<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
        let url = try await makeDatabase()
        let result: Result<T, any Error>
        do {
            result = .success(try await body(url))
        } catch {
            result = .failure(error)
        }
        let server = url.with(database: "postgres")
        try? await DatabaseAdmin.dropDatabaseIfExists(url.database, server: server, logger: TestLogger.make())
        return try result.get()
    }

    private static func prepareTemplate() async throws -> (server: DatabaseURL, template: String) {
        let server = try await serverURL()
        let template = "et_template_\(getpid())"
        let logger = TestLogger.make()
        try await DatabaseAdmin.createDatabaseIfMissing(template, server: server, logger: logger)
        let url = server.with(database: template)
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 1), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Migrator().migrate(on: client, logger: logger)
        }
        return (server, template)
    }

    /// `$DATABASE_URL`, or the embedded server started on first use.
    static func serverURL() async throws -> DatabaseURL {
        if let text = ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty {
            return try DatabaseURL(text)
        }
        return try await DatabaseURL(offThePool { try EmbeddedServer.shared.get().url })
    }
}

/// The throwaway server of this test process, stopped at exit.
enum EmbeddedServer {
    static let shared: Result<EmbeddedPostgres, any Error> = {
        let result = Result {
            try EmbeddedPostgres.start(.init(fsync: false, settings: ["max_connections": "500"]), logger: TestLogger.make())
        }
        if case .success(let server) = result {
            stopAtExit = server
            atexit { EmbeddedServer.stopAtExit?.stop(immediate: true) }
        }
        return result
    }()

    nonisolated(unsafe) static var stopAtExit: EmbeddedPostgres?
}

/// Loggers for tests: silent unless `TEST_LOG_LEVEL` is set (trace … critical).
public enum TestLogger {
    public static func make(_ label: String = "eventicket.test") -> Logger {
        guard let text = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"], let level = Logger.Level(rawValue: text) else {
            return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }
}
