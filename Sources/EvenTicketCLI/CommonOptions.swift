import ArgumentParser
import Database
import Foundation
import EvenTicketApp
import Logging
import MessageBus
import NIOCore
import ServiceLifecycle

/// Options every command that talks to PostgreSQL takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "PostgreSQL URL, postgres://user:pass@host:port/db?sslmode=… (a host starting with / is a socket folder). Default: $DATABASE_URL.",
        valueName: "url"))
    var databaseURL: String?

    func validate() throws {
        _ = try resolve()
    }

    func resolve() throws -> DatabaseURL {
        guard let text = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
            throw ValidationError("no database: pass --database-url or set DATABASE_URL (or use `eventicket dev`, which starts its own PostgreSQL)")
        }
        do {
            return try DatabaseURL(text)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// swift-log's `StreamLogHandler` lines, a line of text per record (`TextLogHandler`).
        case text
        /// A JSON object per line (`JSONLogHandler`).
        case json
    }

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format on standard error: text, or json (one object per line).")
    var logFormat: Format = .text

    func makeLogger(_ label: String) -> Logger {
        let (level, format) = (logLevel, logFormat)
        LoggingSystem.bootstrap { name in
            var handler: any LogHandler = switch format {
            case .text: TextLogHandler.standardError(label: name)
            case .json: JSONLogHandler(label: name)
            }
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Step timeout as a number of seconds.
struct StepTimeoutOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "Seconds a saga waits on a step before it compensates (serve sets the first step's deadline, the orchestrator the others': give both the same).")
    var stepTimeout: Double = 30

    func validate() throws {
        try validateTimeout(stepTimeout, option: "--step-timeout")
    }

    func duration() throws -> Duration {
        .milliseconds(Int64(stepTimeout * 1000))
    }
}

/// For the commands that run or resume compensations (not `serve`, which only starts sagas).
struct CompensationTimeoutOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "Seconds the orchestrator waits on a compensation before it sends it again (default: the step timeout).")
    var compensationTimeout: Double?

    func validate() throws {
        if let compensationTimeout { try validateTimeout(compensationTimeout, option: "--compensation-timeout") }
    }

    func duration() -> Duration? {
        compensationTimeout.map { .milliseconds(Int64($0 * 1000)) }
    }
}

/// A saga timeout: kept in whole milliseconds, so anything shorter would become no timeout at all.
private func validateTimeout(_ value: Double, option: String) throws {
    guard value >= 0.001, value <= 86_400 else { throw ValidationError("\(option) must be at least 0.001 and at most 86400 seconds") }
}

/// A TCP port to listen on: 0 (any free one) to 65535.
func validatePort(_ port: Int, option: String = "--port") throws {
    guard (0...65_535).contains(port) else { throw ValidationError("\(option) must be 0 to 65535 (0: any free port)") }
}

/// Runs a command body, turning known failures into one line and a non-zero exit.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ValidationError {
        throw error
    } catch let exit as ExitCode {
        throw exit
    } catch let error as IOError where error.errnoCode == EADDRINUSE {
        FileHandle.standardError.write(Data("error: cannot listen: the address is in use (another process listens on that port; pass another port)\n".utf8))
        throw ExitCode.failure
    } catch let error as SocketAddressError.UnknownHost {
        // A name that does not resolve, or an address that is not one (999.1.1.1).
        FileHandle.standardError.write(Data("error: cannot listen: no address for host \(error.host) (\(error.errorDescription); check --host)\n".utf8))
        throw ExitCode.failure
    } catch {
        FileHandle.standardError.write(Data("error: \(error.diagnosticDescription)\n".utf8))
        throw ExitCode.failure
    }
}

/// How a process's consumers claim messages.
struct ConsumerOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Seconds a consumer may hold claimed messages without a word to PostgreSQL; then PostgreSQL ends its session and the messages are back on the queue. (A crashed process's messages come back at once.)")
    var lease: Double = 30

    // One loop with large batches is the fastest on a small machine (measured: 1 loop × 500
    // completes 10–15% more sagas/s than 4 × 100 at saturation, and at lower CPU per saga): each
    // batch costs a fixed set of round trips, and a loop's next claim takes everything that
    // arrived while its last batch ran. More processes, not more loops, add consumers.
    @Option(parsing: .unconditional, help: "Claim loops per consumer in this process.")
    var consumerConcurrency: Int = 1

    @Option(parsing: .unconditional, help: "Messages claimed and handled per transaction, at most (default: 500; not for serve, which runs no consumer).")
    var batchSize: Int?

    func validate() throws {
        guard lease >= 1, lease <= 3600 else { throw ValidationError("--lease must be between 1 and 3600 seconds") }
        guard (1...64).contains(consumerConcurrency) else { throw ValidationError("--consumer-concurrency must be between 1 and 64") }
        if let batchSize, !(1...1000).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 1000") }
    }

    func apply(to configuration: inout SystemConfiguration) {
        configuration.lease = .milliseconds(Int64(lease * 1000))
        configuration.consumerConcurrency = consumerConcurrency
        configuration.batchSize = batchSize ?? 500
    }
}

/// The process's metrics for Prometheus, served on a port of their own.
struct MetricsOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Serve GET /metrics (Prometheus's text format) on this port (0: any free one). Default: no metrics.", valueName: "port"))
    var metricsPort: Int?

    @Option(help: "Address the metrics listen on (0.0.0.0 for every interface; default 127.0.0.1).")
    var metricsHost: String?

    func validate() throws {
        if let metricsPort { try validatePort(metricsPort, option: "--metrics-port") }
        if metricsHost != nil, metricsPort == nil { throw ValidationError("--metrics-host needs --metrics-port") }
    }

    /// For a command that also serves the API on `port`: the two cannot share a port (0, any
    /// free one, aside).
    func validate(apartFrom port: Int) throws {
        if port != 0, metricsPort == port { throw ValidationError("--metrics-port must differ from --port (\(port))") }
    }

    /// With `--metrics-port`: makes Prometheus the process's metrics backend, turns on the
    /// sampling of its queues, and returns the server of `GET /metrics`. Call it before the
    /// services are made.
    func start(configuration: inout SystemConfiguration, logger: Logger) -> (any Service)? {
        guard let metricsPort else { return nil }
        let metricsHost = metricsHost ?? "127.0.0.1"
        let export = PrometheusExport()
        export.bootstrap()
        ConnectionWatchdog.registerMetrics()
        configuration.queueSampling = QueueGauges.interval
        return export.server(host: metricsHost, port: metricsPort, logger: logger, onServerRunning: { port in
            logger.info("serving metrics", metadata: ["address": "http://\(metricsHost):\(port)/metrics"])
        })
    }
}
