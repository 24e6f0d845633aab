import Foundation
import Logging

/// The measured part of a run: the drivers place orders, the poller finds their outcomes, and a
/// supervisor moves through warm-up, window and settle, takes the snapshots at the window's
/// edges (and reads the churning tables at its start and after the settle time), shows
/// progress, and fails fast when a child dies or nothing moves any more.
struct Measurement: Sendable {
    let configuration: BenchConfiguration
    let ledger: OrderLedger
    let driver: OrderDriver
    let poller: CompletionPoller
    let statistics: PostgresStatistics
    let tables: TableStatistics
    /// The processes the bench started; nil when it drives a system that was already running.
    let system: SystemUnderTest?
    /// The embedded server's postmaster, for its CPU; nil for an external server.
    let postmasterPID: Int32?
    let progressDescriptor: Int32
    let logger: Logger

    /// CPU seconds used so far, by group.
    struct CPUReading: Sendable {
        var system: Double?
        var postgres: Double?
        var bench: Double
        /// The whole machine's CPU ticks; nil where they cannot be read.
        var machine: ProcessCPU.MachineTicks?
    }

    /// What happened at the window's edges.
    struct Result: Sendable {
        var windowStart: Date
        var windowEnd: Date
        var statisticsStart: PostgresStatistics.Snapshot
        var statisticsEnd: PostgresStatistics.Snapshot
        var ownQueries: Int
        var cpuStart: CPUReading
        var cpuEnd: CPUReading
        /// How the machine's CPUs spent each whole second of the window (nil where unknown).
        var machineBySecond: [ProcessCPU.MachineShares?] = []
        var unfinished: Int
        /// The churning tables at the window's start and after the settle time.
        var tablesStart: [String: BenchReport.TableReading]
        var tablesEnd: [String: BenchReport.TableReading] = [:]
        /// The children's metrics over the window (`--metrics`), and how many children answered
        /// at both edges.
        var serviceMetrics: ServiceMetrics?
        var serviceMetricsAnswered = 0
    }

    /// The children's metrics now; nil without `--metrics`.
    private func serviceMetrics() async -> (metrics: ServiceMetrics, answered: Int)? {
        guard let ports = system?.metricsPorts, !ports.isEmpty else { return nil }
        return await ServiceMetrics.read(ports: ports)
    }

    func run() async throws -> Result {
        let backendPID = Locked<Int32?>(nil)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await poller.run(backendPID: backendPID)
                return nil
            }
            group.addTask {
                await driver.run()
                return nil
            }
            group.addTask { try await supervise(backendPID: backendPID) }
            do {
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                }
                throw BenchError("the measurement ended without a result")
            } catch {
                // Closed-loop clients wait on their orders: release them so the group can end.
                ledger.stopPlacing()
                _ = ledger.drain()
                group.cancelAll()
                throw error
            }
        }
    }

    private func cpu(excluding backendPID: Int32?) -> CPUReading {
        CPUReading(
            system: system.map { ProcessCPU.seconds(of: $0.pids) },
            postgres: postmasterPID.flatMap { ProcessCPU.treeSeconds(root: $0, excluding: backendPID.map { [$0] } ?? []) },
            bench: ProcessCPU.selfSeconds(),
            machine: ProcessCPU.machineTicks())
    }

    private enum Phase {
        case warmup
        case measuring(
            start: Date, cpu: CPUReading, statistics: PostgresStatistics.Snapshot, ownQueries: Int,
            tables: [String: BenchReport.TableReading], serviceMetrics: (metrics: ServiceMetrics, answered: Int)?)
        case settling(deadline: Date, partial: Result)
    }

    private func supervise(backendPID: Locked<Int32?>) async throws -> Result {
        var display = ProgressDisplay(descriptor: progressDescriptor)
        defer { display.finish() }
        let begin = Date()
        var phase = Phase.warmup
        // The machine's CPU ticks at the window's start and at each whole second after it.
        var machineSeconds: [ProcessCPU.MachineTicks?] = []
        // When the last poll of every order in flight, once the settle time is up, has had its turn.
        var finalPollUntil: Date?
        while true {
            try Task.checkCancellation()
            try system?.checkAlive()
            let now = Date()
            switch phase {
            case .warmup:
                if now.timeIntervalSince(begin) >= configuration.warmup || ledger.limitReached {
                    if ledger.limitReached, configuration.warmup > 0 {
                        let placed = ledger.state.withLock(\.placed)
                        throw BenchError(
                            "all \(placed) orders were placed during the \(String(format: "%g", configuration.warmup)) s warm-up, which leaves nothing to measure: "
                                + "raise --orders or lower --warmup")
                    }
                    // Before the window's own counters, so that this query is not counted in them.
                    let tablesStart = try await tables.read()
                    let metricsStart = await serviceMetrics()
                    let ownQueries = ledger.ownQueries
                    let cpu = cpu(excluding: backendPID.value)
                    let snapshot = try await statistics.snapshot(ledger: ledger)
                    let start = Date()
                    ledger.startWindow(at: start)
                    machineSeconds = [cpu.machine]
                    phase = .measuring(
                        start: start, cpu: cpu, statistics: snapshot, ownQueries: ownQueries, tables: tablesStart, serviceMetrics: metricsStart)
                    continue
                }
            case .measuring(let start, let cpuStart, let statisticsStart, let ownStart, let tablesStart, let metricsStart):
                let timeUp = configuration.duration.map { now.timeIntervalSince(start) >= $0 } ?? false
                if now.timeIntervalSince(start) >= Double(machineSeconds.count) {
                    machineSeconds.append(ProcessCPU.machineTicks())
                }
                if timeUp || ledger.limitReached {
                    ledger.stopPlacing()
                    ledger.endWindow(at: now)
                    let ownEnd = ledger.ownQueries
                    let cpuEnd = cpu(excluding: backendPID.value)
                    let statisticsEnd = try await statistics.snapshot(ledger: ledger)
                    var partial = Result(
                        windowStart: start, windowEnd: now, statisticsStart: statisticsStart, statisticsEnd: statisticsEnd,
                        ownQueries: ownEnd - ownStart, cpuStart: cpuStart, cpuEnd: cpuEnd, unfinished: 0, tablesStart: tablesStart)
                    partial.machineBySecond = zip(machineSeconds, machineSeconds.dropFirst()).map { earlier, later in
                        earlier.flatMap { earlier in later?.shares(since: earlier) }
                    }
                    if let metricsStart, let metricsEnd = await serviceMetrics() {
                        partial.serviceMetrics = metricsEnd.metrics.subtracting(metricsStart.metrics)
                        partial.serviceMetricsAnswered = min(metricsStart.answered, metricsEnd.answered)
                    }
                    phase = .settling(deadline: now.addingTimeInterval(configuration.settle), partial: partial)
                    continue
                }
            case .settling(let deadline, var partial):
                let inFlight = ledger.inFlight
                let settled = inFlight.orders == 0 && inFlight.requests == 0
                if !settled, now >= deadline, finalPollUntil == nil, inFlight.orders > 0 {
                    // One last poll of every order in flight: one that ended but was not asked
                    // about again yet (an old one is asked every quarter of its age) counts as
                    // completed, not as unfinished (which a short --settle made it).
                    _ = ledger.pollEverythingNext()
                    finalPollUntil = now.addingTimeInterval(0.2)
                }
                if settled || (now >= deadline && finalPollUntil.map { now >= $0 } ?? true) {
                    partial.unfinished = ledger.drain()
                    if partial.unfinished > 0 {
                        logger.warning("orders still pending after the settle time", metadata: ["count": "\(partial.unfinished)"])
                    }
                    partial.tablesEnd = try await tables.read()
                    return partial
                }
            }
            let inFlight = ledger.inFlight
            if inFlight.orders + inFlight.requests > 0, now.timeIntervalSince(ledger.lastActivity) > configuration.stallTimeout {
                throw BenchError(
                    "no order was accepted or became terminal for \(Int(configuration.stallTimeout)) s with \(inFlight.orders) in flight; "
                        + "the system under test is stuck (logs in \(configuration.outputDirectory))")
            }
            let counts = ledger.state.withLock { ($0.placed, $0.completed) }
            let name = switch phase {
            case .warmup: "warm-up"
            case .measuring: "measuring"
            case .settling: "settling"
            }
            display.show(.init(phase: name, elapsed: now.timeIntervalSince(begin), placed: counts.0, completed: counts.1, inFlight: inFlight.orders))
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
