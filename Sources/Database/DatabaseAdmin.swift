import Logging
import PostgresNIO

/// Server-level chores: creating databases for `dev`, tests and benchmarks.
public enum DatabaseAdmin {
    /// Creates `name` on the server `url` points at, unless it exists. `name` must be a plain
    /// identifier (letters, digits, underscores), since CREATE DATABASE takes no parameters.
    public static func createDatabaseIfMissing(_ name: String, server url: DatabaseURL, template: String? = nil, logger: Logger) async throws {
        for identifier in [name] + (template.map { [$0] } ?? []) { try requirePlainIdentifier(identifier) }
        try await withConnection(to: url, logger: logger) { connection in
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger).collect()
            guard rows.isEmpty else { return }
            let templateClause = template.map { " TEMPLATE \($0)" } ?? ""
            do {
                _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)\(templateClause)"), logger: logger).collect()
            } catch where error.sqlState == "42P04" {
                // Created meanwhile by another process.
            }
        }
    }

    /// Drops `name` on the server `url` points at, if it exists, ending its sessions first
    /// (`WITH (FORCE)`). `name` must be a plain identifier, as for creating one.
    public static func dropDatabaseIfExists(_ name: String, server url: DatabaseURL, logger: Logger) async throws {
        try requirePlainIdentifier(name)
        try await withConnection(to: url, logger: logger) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger).collect()
        }
    }

    /// Runs `body` on one direct connection to `url`, closed afterwards: a pool started just for
    /// this would be leased before its `run()` got going (postgres-nio warns about that).
    private static func withConnection(
        to url: DatabaseURL, logger: Logger, _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 0, logger: logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// Database names go into statements that take no parameters: letters, digits, underscores.
    private static func requirePlainIdentifier(_ identifier: String) throws {
        guard !identifier.isEmpty, identifier.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw DatabaseURLError(reason: "database name \(identifier) must be letters, digits and underscores")
        }
    }
}
