import Logging
import PostgresNIO
import ServiceLifecycle

/// Vacuums tables that churn (a queue: every row inserted once and deleted once) every few
/// seconds, whatever autovacuum's schedule.
///
/// A queue's claim scans its index from the oldest entry; rows deleted since the last vacuum
/// leave dead entries at exactly that end, and every claim walks over them. Autovacuum wakes at
/// most once per `autovacuum_naptime` (a minute by default), by which time a busy queue has
/// left tens of thousands behind. `VACUUM (SKIP_LOCKED)` on a table that is kept small takes a
/// few milliseconds, and concurrent vacuums from several processes skip each other. It never
/// truncates the table's empty tail, which would take a lock that every claim waits on.
/// It needs to run as the tables' owner (the login user that applied the migrations).
public struct TableVacuum: Service {
    let client: PostgresClient
    let tables: [String]
    let interval: Duration
    let logger: Logger

    /// `tables` are the program's own constants (schema-qualified names), never input.
    public init(client: PostgresClient, tables: [String], interval: Duration = .seconds(1), logger: Logger) {
        self.client = client
        self.tables = tables
        self.interval = interval
        self.logger = logger
    }

    /// Each vacuum runs under a ``ConnectionWatchdog``: one stalled on a connection closed under
    /// it would otherwise stop the vacuums for good and, at shutdown, hold up every service
    /// stopped after this one. A failure is logged at debug level (one now and then is
    /// expected: a restart, a lock); ten in a row, and every minute's worth after, as a warning.
    public func run() async throws {
        let watchdog = ConnectionWatchdog(timeout: .seconds(30), drain: .seconds(2), logger: logger)
        let statement = "VACUUM (SKIP_LOCKED, PARALLEL 0, TRUNCATE false) " + tables.joined(separator: ", ")
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: interval * Double.random(in: 0.8..<1.2))
                do {
                    try await client.withConnection { connection in
                        try await watchdog.run(on: connection, "vacuuming \(tables.joined(separator: ", "))") {
                            _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                        }
                    }
                    failures = 0
                } catch {
                    if Task.isCancelled { break }
                    failures += 1
                    let level: Logger.Level = failures % 60 == 10 ? .warning : .debug
                    logger.log(level: level, "vacuum failed", metadata: ["error": "\(error.diagnosticDescription)", "failures in a row": "\(failures)"])
                }
            }
        }
    }
}
