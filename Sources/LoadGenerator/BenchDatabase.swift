import Database
import EmbeddedPostgres
import Foundation
import Logging

/// The PostgreSQL a bench run uses: an embedded server it starts (and stops), or a given URL.
struct BenchDatabase: Sendable {
    /// Settings of the embedded server. fsync and synchronous_commit stay on: a benchmark with
    /// them off measures something no deployment runs. Checkpoints are spaced as a server with
    /// this write rate would be configured (the default, a checkpoint per GB of WAL, means one
    /// every half a minute here, each followed by a burst of full-page images).
    static let embeddedSettings = [
        "shared_preload_libraries": "pg_stat_statements",
        "max_connections": "300",
        "shared_buffers": "512MB",
        "max_wal_size": "8GB",
        "checkpoint_timeout": "15min",
        "wal_compression": "lz4",
    ]

    let url: DatabaseURL
    /// The URL as handed to the child processes (not masked).
    let urlString: String
    let embedded: EmbeddedPostgres?

    /// Starts the embedded server and creates the `eventicket` database on it, or parses the URL.
    static func open(_ database: BenchConfiguration.Database, logger: Logger) async throws -> BenchDatabase {
        switch database {
        case .external(let text, let parsed):
            return BenchDatabase(url: parsed, urlString: text, embedded: nil)
        case .embedded(let keepData):
            let server = try EmbeddedPostgres.start(
                .init(dataDirectory: keepData, fsync: true, settings: embeddedSettings), logger: logger)
            do {
                // Its pool warns when queried before it runs, which says nothing to the user.
                var quiet = logger
                quiet.logLevel = max(logger.logLevel, .error)
                try await DatabaseAdmin.createDatabaseIfMissing("eventicket", server: try DatabaseURL(server.url), logger: quiet)
                let text = "postgres://postgres@127.0.0.1:\(server.port)/eventicket?sslmode=disable"
                return BenchDatabase(url: try DatabaseURL(text), urlString: text, embedded: server)
            } catch {
                server.stop()
                throw error
            }
        }
    }

    /// The embedded server's postmaster (first line of `postmaster.pid`).
    var postmasterPID: Int32? {
        guard let embedded,
              let text = try? String(contentsOfFile: embedded.dataDirectory + "/postmaster.pid", encoding: .utf8),
              let line = text.split(separator: "\n").first
        else { return nil }
        return Int32(line.trimmingCharacters(in: .whitespaces))
    }

    /// Stops the embedded server (a temporary cluster is deleted; `--keep-data` keeps it).
    func close() {
        embedded?.stop()
    }
}
