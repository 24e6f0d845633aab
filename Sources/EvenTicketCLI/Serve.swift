import ArgumentParser
import EvenTicketApp
import HTTPAPI

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the public HTTP API: it places orders and starts their sagas.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    /// The intake starts each saga, so it sets the first step's deadline.
    @OptionGroup var timeout: StepTimeoutOption
    @OptionGroup var consumers: ConsumerOptions
    @OptionGroup var metrics: MetricsOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on.") var port = 8080

    func validate() throws {
        try validatePort(port)
        try metrics.validate(apartFrom: port)
        // Its --consumer-concurrency sizes its pool (N + 20 connections) and --lease bounds its
        // sessions' idle transactions; a batch size would have nothing to apply to.
        if consumers.batchSize != nil { throw ValidationError("--batch-size is for orchestrator and worker: serve runs no consumer") }
    }

    func run() async throws {
        let url = try database.resolve()
        let logger = logging.makeLogger("eventicket.serve")
        var configuration = SystemConfiguration(api: APIConfiguration(host: host, port: port), stepTimeout: try timeout.duration())
        consumers.apply(to: &configuration)
        let metricsServer = metrics.start(configuration: &configuration, logger: logger)
        try await reportingFailures {
            try await runRoles([.api], url: url, configuration: configuration, logger: logger, metrics: metricsServer)
        }
    }
}

struct OrchestratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orchestrator", abstract: "Run the saga orchestrator, which records each saga's outcome on its order, and the ordering service's consumer.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var timeout: StepTimeoutOption
    @OptionGroup var compensationTimeout: CompensationTimeoutOption
    @OptionGroup var consumers: ConsumerOptions
    @OptionGroup var metrics: MetricsOptions

    func run() async throws {
        let url = try database.resolve()
        let logger = logging.makeLogger("eventicket.orchestrator")
        var configuration = SystemConfiguration(stepTimeout: try timeout.duration(), compensationTimeout: compensationTimeout.duration())
        consumers.apply(to: &configuration)
        let metricsServer = metrics.start(configuration: &configuration, logger: logger)
        try await reportingFailures {
            // The ordering service's consumer handles only what orchestrators published before
            // migration 0018 (each saga's outcome, which they now record themselves), so it
            // runs beside them, where it ran since it was measured to be better off `serve`'s
            // busy thread.
            try await runRoles([.orchestrator, .ordering], url: url, configuration: configuration, logger: logger, metrics: metricsServer)
        }
    }
}

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run participant services (inventory, invoicing, payment).")

    enum Service: String, ExpressibleByArgument, CaseIterable {
        case inventory, invoicing, payment
    }

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var consumers: ConsumerOptions
    @OptionGroup var metrics: MetricsOptions
    @Option(name: .customLong("service"), help: "A participant to run; repeat for several. Default: all.")
    var services: [Service] = []
    @Option(parsing: .unconditional, help: "Seconds the simulated gateway takes to answer a tok_timeout charge (keep above the step timeout).")
    var slowChargeDelay: Double = 60

    func validate() throws {
        guard slowChargeDelay > 0, slowChargeDelay <= 86_400 else {
            throw ValidationError("--slow-charge-delay must be more than 0 and at most 86400 seconds")
        }
    }

    func run() async throws {
        let url = try database.resolve()
        let logger = logging.makeLogger("eventicket.worker")
        let roles = Set((services.isEmpty ? Service.allCases : services).map { Role(rawValue: $0.rawValue)! })
        var configuration = SystemConfiguration()
        configuration.payment.slowChargeDelay = .milliseconds(Int64(slowChargeDelay * 1000))
        consumers.apply(to: &configuration)
        let metricsServer = metrics.start(configuration: &configuration, logger: logger)
        try await reportingFailures {
            try await runRoles(roles, url: url, configuration: configuration, logger: logger, metrics: metricsServer)
        }
    }
}
