import ArgumentParser
import Database
import Foundation
import LoadGenerator
import Logging
import UnixSignals
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole system and measure it: drive orders through the HTTP API, report sagas/s, latency and cost per saga.",
        discussion: """
            Starts an embedded PostgreSQL (fsync on) unless --database-url is given, migrates it, starts `serve`, \
            --orchestrators × `orchestrator` and --workers × `worker` as child processes, and places orders: a closed loop \
            of --concurrency clients (default), or an open loop of --rate orders/s. Writes report.json, latency.svg and the \
            children's logs into --output.
            """)

    @OptionGroup var logging: LoggingOptions

    @Option(parsing: .unconditional, help: "Closed loop: virtual clients, each with one order in flight (default 16).")
    var concurrency: Int?
    @Option(parsing: .unconditional, help: "Open loop: orders per second, placed on schedule whatever the completions.")
    var rate: Double?
    @Option(parsing: .unconditional, help: "Open loop: the most HTTP requests in flight; an order due beyond that is dropped and counted.")
    var maxInFlight = 256
    @Option(parsing: .unconditional, help: "Seconds measured after the warm-up (default 20; with --orders alone, no time limit).")
    var duration: Double?
    @Option(parsing: .unconditional, help: "Seconds of load before measuring (default 3; with --orders, 0).")
    var warmup: Double?
    @Option(parsing: .unconditional, help: "Stop placing after this many orders (warm-up included).")
    var orders: Int?
    @Option(parsing: .unconditional, help: "Seconds to wait after the window for in-flight orders to become terminal.")
    var settle: Double = 30
    @Option(help: "Payment tokens and their weights: visa, declined, timeout, flaky.")
    var mix = TokenMix.standard.description
    @Option(parsing: .unconditional, help: "Seconds the orchestrator waits on a step (workers answer tok_timeout after twice this).")
    var stepTimeout: Double = 2
    @Option(parsing: .unconditional, help: "Orchestrator processes to start.")
    var orchestrators = 1
    @Option(parsing: .unconditional, help: "Worker processes to start (each runs inventory, invoicing and payment).")
    var workers = 1
    @Flag(help: "First measure the commit ceiling (16 connections × 5 s of single-row INSERTs) and single-commit latency.")
    var calibrate = false
    @Option(parsing: .unconditional, help: "Claim loops per consumer in each child process (their --consumer-concurrency).")
    var consumerConcurrency: Int?
    @Option(parsing: .unconditional, help: "Messages per transaction in each child process's consumers (their --batch-size).")
    var batchSize: Int?
    @Flag(help: "Run the child processes with their metrics on (each serves GET /metrics on a free port; off by default, as in the processes), and report each hop's wait per queue from them.")
    var metrics = false
    @Option(parsing: .unconditional, help: "Sequential commits on one saga's critical path, for the latency floor printed with --calibrate (a confirmed order's: the intake, the reservation or invoice, the orchestrator, the payment, the orchestrator, which confirms the order).")
    var sequentialCommits = 5
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "Use this PostgreSQL instead of an embedded one (PG CPU is then n/a).", valueName: "url"))
    var databaseURL: String?
    @Option(help: ArgumentHelp("Keep the embedded PostgreSQL cluster in this folder (default: a temporary one).", valueName: "dir"))
    var keepData: String?
    @Option(help: ArgumentHelp("Where report.json, latency.svg and the logs go (default .eventicket/bench/<UTC time>).", valueName: "dir"))
    var output: String?
    @Flag(help: "Print the report as JSON on standard output, and nothing else there.")
    var json = false
    @Flag(help: "Start no processes: drive the system already running at --url (with --database-url, the database it uses).")
    var noSpawn = false
    @Option(help: ArgumentHelp("With --no-spawn: the running system's HTTP API, http://host:port.", valueName: "url"))
    var url: String?
    @Option(parsing: .unconditional, help: "Fail when no order is accepted or completes for this many seconds while some are in flight.")
    var stallTimeout: Double = 60
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Messages to queue before the load, due in a day so they stay queued all run (spread over the five queues; deleted afterwards from a --database-url).",
        valueName: "n"))
    var backlog = 0

    func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw ValidationError(message) }
        }
        try require(concurrency.map { (1...10_000).contains($0) } ?? true, "--concurrency must be between 1 and 10000")
        try require(rate.map { $0 >= 0.01 && $0 <= 100_000 } ?? true, "--rate must be at least 0.01 and at most 100000 orders/s")
        try require(rate == nil || concurrency == nil, "--concurrency is for the closed loop; with --rate, cap requests with --max-in-flight")
        try require((1...10_000).contains(maxInFlight), "--max-in-flight must be between 1 and 10000")
        try require(duration.map { $0 > 0 && $0 <= 86_400 } ?? true, "--duration must be more than 0 and at most 86400 seconds")
        try require(warmup.map { $0 >= 0 && $0 <= 3600 } ?? true, "--warmup must be between 0 and 3600 seconds")
        try require(orders.map { $0 >= 1 } ?? true, "--orders must be at least 1")
        try require(settle >= 0 && settle <= 3600, "--settle must be between 0 and 3600 seconds")
        try require(stepTimeout >= 0.001 && stepTimeout <= 3600, "--step-timeout must be at least 0.001 and at most 3600 seconds")
        try require((1...64).contains(orchestrators), "--orchestrators must be between 1 and 64")
        try require((1...64).contains(workers), "--workers must be between 1 and 64")
        try require((1...1000).contains(sequentialCommits), "--sequential-commits must be between 1 and 1000")
        try require(consumerConcurrency.map { (1...64).contains($0) } ?? true, "--consumer-concurrency must be between 1 and 64")
        try require(batchSize.map { (1...1000).contains($0) } ?? true, "--batch-size must be between 1 and 1000")
        try require(stallTimeout >= 1, "--stall-timeout must be at least 1 second")
        try require((0...10_000_000).contains(backlog), "--backlog must be between 0 and 10000000")
        try require(databaseURL == nil || keepData == nil, "--keep-data is for the embedded PostgreSQL; it cannot go with --database-url")
        if noSpawn {
            try require(databaseURL != nil, "--no-spawn needs --database-url: the database the running system uses")
            try require(consumerConcurrency == nil && batchSize == nil && !metrics && orchestrators == 1 && workers == 1,
                        "--orchestrators, --workers, --consumer-concurrency, --batch-size and --metrics are for the processes the bench starts, not with --no-spawn")
            try require(url.map { $0.hasPrefix("http://") } ?? false,
                        "--no-spawn needs --url http://host:port, the running system's HTTP API (the bench's client speaks plain HTTP)")
        } else {
            try require(url == nil, "--url is for --no-spawn")
        }
        do {
            _ = try TokenMix(parsing: mix)
        } catch {
            throw ValidationError("\(error)")
        }
        if let databaseURL {
            do { _ = try DatabaseURL(databaseURL) } catch { throw ValidationError("--database-url: \(error)") }
        }
    }

    func makeConfiguration() throws -> BenchConfiguration {
        let load: BenchConfiguration.Load = rate.map { .open(rate: $0, maxInFlight: maxInFlight) } ?? .closed(concurrency: concurrency ?? 16)
        let database: BenchConfiguration.Database = try databaseURL.map { .external(url: $0, parsed: try DatabaseURL($0)) }
            ?? .embedded(keepData: keepData)
        return BenchConfiguration(
            load: load,
            duration: duration ?? (orders == nil ? 20 : nil),
            warmup: warmup ?? (orders == nil ? 3 : 0),
            orders: orders,
            settle: settle,
            mix: try TokenMix(parsing: mix),
            stepTimeout: stepTimeout,
            orchestrators: orchestrators,
            workers: workers,
            calibrate: calibrate,
            sequentialCommits: sequentialCommits,
            database: database,
            outputDirectory: output ?? BenchConfiguration.defaultOutputDirectory(),
            existingSystem: noSpawn ? url : nil,
            childLogLevel: logging.logLevel,
            childArguments: (consumerConcurrency.map { ["--consumer-concurrency", String($0)] } ?? [])
                + ["--log-format", logging.logFormat.rawValue],
            consumerArguments: batchSize.map { ["--batch-size", String($0)] } ?? [],
            stallTimeout: stallTimeout,
            backlog: backlog,
            metrics: metrics)
    }

    func run() async throws {
        let logger = logging.makeLogger("eventicket.bench")
        let configuration = try makeConfiguration()
        let json = self.json
        try await reportingFailures {
            let report = try await runTrappingSignals(configuration, progressDescriptor: json ? STDERR_FILENO : STDOUT_FILENO, logger: logger)
            let directory = configuration.outputDirectory
            let logs = configuration.existingSystem == nil ? " (logs: \(directory)/*.log)" : ""
            let files = "Wrote \(directory)/report.json and \(directory)/latency.svg\(logs)\n"
            if json {
                let data = try BenchReport.makeEncoder().encode(report)
                FileHandle.standardOutput.write(data + Data("\n".utf8))
                FileHandle.standardError.write(Data(files.utf8))
            } else {
                FileHandle.standardOutput.write(Data(("\n" + report.text + "\n" + files).utf8))
            }
        }
    }

    /// Runs the bench; SIGINT or SIGTERM cancels it, which stops the children and PostgreSQL, then exits 130.
    private func runTrappingSignals(_ configuration: BenchConfiguration, progressDescriptor: Int32, logger: Logger) async throws -> BenchReport {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        do {
            return try await withThrowingTaskGroup(of: BenchReport?.self) { group in
                group.addTask { try await BenchRunner.run(configuration, progressDescriptor: progressDescriptor, logger: logger) }
                group.addTask {
                    for await signal in signals {
                        logger.notice("\(signal) received: stopping the system under test")
                        throw Interrupted()
                    }
                    return nil
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw Interrupted()
            }
        } catch is Interrupted {
            FileHandle.standardError.write(Data("interrupted: the bench stopped its processes\n".utf8))
            throw ExitCode(130)
        }
    }

    private struct Interrupted: Error {}
}
