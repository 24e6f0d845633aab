import Access
import Database
import Foundation
import Logging
import PostgresNIO

/// Runs a whole bench: database, migrations, tokens, optional calibration, the optional
/// backlog, the system under test, the measured load, and the report (written to the output
/// folder as well).
///
/// Every path out, errors and cancellation (Ctrl-C) included, stops the child processes
/// (SIGTERM, then SIGKILL after 15 s) and then the embedded PostgreSQL. The backlog is deleted
/// again from an external database (an embedded one is thrown away).
public enum BenchRunner {
    /// Runs the bench; progress goes to `progressDescriptor` (a file descriptor).
    public static func run(_ configuration: BenchConfiguration, progressDescriptor: Int32, logger: Logger) async throws -> BenchReport {
        let startedAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        do {
            try FileManager.default.createDirectory(atPath: configuration.outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw BenchError("cannot create the output folder \(configuration.outputDirectory): \(error.localizedDescription)")
        }
        let database = try await BenchDatabase.open(configuration.database, logger: logger)
        defer { database.close() }
        // Errors only: connection trouble reaches the bench as failed queries, and the pool warns
        // about a first query racing its start-up, which is harmless.
        let client = PostgresClient(
            configuration: database.url.clientConfiguration(maximumConnections: 20), backgroundLogger: quiet(logger, level: .error))
        let report = try await client.running(logger: logger) {
            try await run(configuration, database: database, client: client, startedAt: startedAt,
                          progressDescriptor: progressDescriptor, logger: logger)
        }
        try write(report, to: configuration.outputDirectory)
        return report
    }

    private static func run(
        _ configuration: BenchConfiguration, database: BenchDatabase, client: PostgresClient, startedAt: Date,
        progressDescriptor: Int32, logger: Logger
    ) async throws -> BenchReport {
        do {
            _ = try await client.query("SELECT 1", logger: logger).collect()
        } catch {
            throw BenchError("cannot reach PostgreSQL at \(database.url): \(error.diagnosticDescription)")
        }
        try await Migrator().migrate(on: client, logger: logger)
        let tokens = AccessTokens(client: client)
        let operatorToken = try await tokens.create(name: "bench operator", role: .operator, logger: logger).token
        let clientToken = try await tokens.create(name: "bench client", role: .client, logger: logger).token
        let statistics = await PostgresStatistics.enable(client: client, logger: logger)
        let server = try await statistics.server()
        var calibration: Calibration.Result?
        if configuration.calibrate {
            logger.info("calibrating: single-row commits, 16 connections for 5 s, then one for 2 s")
            calibration = try await Calibration(client: client, logger: logger).run(sequentialCommits: configuration.sequentialCommits)
        }
        let backlog = Backlog(client: client, logger: logger)
        do {
            try await fill(backlog, configuration: configuration, logger: logger)
            let report = try await measure(
                configuration, database: database, client: client, startedAt: startedAt, server: server,
                statistics: statistics, calibration: calibration, tokens: (operatorToken, clientToken),
                progressDescriptor: progressDescriptor, logger: logger)
            try await removeIfExternal(backlog, configuration: configuration, logger: logger)
            return report
        } catch {
            do {
                try await removeIfExternal(backlog, configuration: configuration, logger: logger)
            } catch let removal {
                // After Ctrl-C the pool is cancelled with the run, so this is expected then.
                logger.warning("could not delete the backlog; remove it with DELETE FROM bus.messages WHERE type = '\(Backlog.messageType)'",
                               metadata: ["error": "\(removal.diagnosticDescription)"])
            }
            throw error
        }
    }

    /// Queues the `--backlog` messages, with progress on standard error.
    private static func fill(_ backlog: Backlog, configuration: BenchConfiguration, logger: Logger) async throws {
        let total = configuration.backlog
        guard total > 0 else { return }
        logger.info("queueing the backlog", metadata: ["messages": "\(total)"])
        try await backlog.fill(total) { queued in
            FileHandle.standardError.write(Data("queued \(queued)/\(total) backlog messages\n".utf8))
        }
    }

    /// Deletes the backlog from an external database; an embedded one is deleted whole.
    private static func removeIfExternal(_ backlog: Backlog, configuration: BenchConfiguration, logger: Logger) async throws {
        guard configuration.backlog > 0, case .external = configuration.database else { return }
        let deleted = try await backlog.remove()
        logger.info("deleted the backlog", metadata: ["messages": "\(deleted)"])
    }

    /// Starts the system under test (unless it runs already), places the load and measures it.
    private static func measure(
        _ configuration: BenchConfiguration, database: BenchDatabase, client: PostgresClient, startedAt: Date,
        server: BenchReport.Server?, statistics: PostgresStatistics, calibration: Calibration.Result?,
        tokens: (operator: String, client: String), progressDescriptor: Int32, logger: Logger
    ) async throws -> BenchReport {
        let (operatorToken, clientToken) = tokens
        let system: SystemUnderTest? = configuration.existingSystem != nil ? nil : try await SystemUnderTest.start(
            databaseURL: database.urlString, configuration: configuration, logDirectory: configuration.outputDirectory, logger: logger)
        do {
            let http = try BenchHTTPClient(
                baseURL: configuration.existingSystem ?? "http://127.0.0.1:\(system?.port ?? 0)", maximumConnections: configuration.httpConnections)
            do {
                let api = BenchAPI(http: http, clientToken: clientToken)
                try await api.waitUntilHealthy(timeout: .seconds(system == nil ? 10 : 120)) { try system?.checkAlive() }
                let target: BenchAPI.Target
                do {
                    target = try await api.createEvent(operatorToken: operatorToken)
                } catch {
                    try system?.checkAlive()  // A dead child explains the failure better.
                    throw error
                }
                logger.info("placing orders", metadata: ["event.id": "\(target.eventId)"])
                let ledger = OrderLedger(limit: configuration.orders, stepTimeout: configuration.stepTimeout)
                let measurement = Measurement(
                    configuration: configuration, ledger: ledger,
                    driver: OrderDriver(api: api, target: target, mix: configuration.mix, ledger: ledger, load: configuration.load),
                    poller: CompletionPoller(client: client, ledger: ledger, logger: logger),
                    statistics: statistics, tables: TableStatistics(client: client, logger: logger),
                    system: system, postmasterPID: database.postmasterPID,
                    progressDescriptor: progressDescriptor, logger: logger)
                let result = try await measurement.run()
                let transitions = try await statistics.transitions(from: result.statisticsStart.serverTime, to: result.statisticsEnd.serverTime)
                await system?.stop(logger: logger)
                await http.shutdown()
                return BenchReport(
                    configuration: configuration, startedAt: startedAt, ledger: ledger, result: result,
                    transitions: transitions, calibration: calibration, server: server)
            } catch {
                await http.shutdown()
                throw error
            }
        } catch {
            await system?.stop(logger: logger)
            throw error
        }
    }

    /// Writes `report.json` and `latency.svg` into `directory`.
    static func write(_ report: BenchReport, to directory: String) throws {
        let json = try BenchReport.makeEncoder().encode(report)
        try json.write(to: URL(fileURLWithPath: directory + "/report.json"))
        let plot = LatencyPlot(title: report.plotTitle, series: report.plotSeries)
        try Data(plot.render().utf8).write(to: URL(fileURLWithPath: directory + "/latency.svg"))
    }

    /// `logger`, with nothing below `level`.
    private static func quiet(_ logger: Logger, level: Logger.Level) -> Logger {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, level)
        return quiet
    }
}
