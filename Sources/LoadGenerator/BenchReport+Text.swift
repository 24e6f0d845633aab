import Foundation

extension BenchReport {
    /// The human-readable report.
    public var text: String {
        var lines: [String] = []
        let s = settings
        let load = s.mode == "open"
            ? "open loop, \(number(s.rate ?? 0, 1)) orders/s (at most \(s.maxInFlight ?? 0) requests in flight)"
            : "closed loop, \(s.concurrency ?? 0) clients"
        lines.append("EvenTicket bench: \(load), mix \(s.mix), step timeout \(number(s.stepTimeoutSeconds, 1)) s")
        let postgres = server.map { "PostgreSQL \($0.version), fsync \($0.fsync), synchronous_commit \($0.synchronousCommit)" } ?? "PostgreSQL"
        let processes = s.existingSystem.map { "the running system at \($0)" }
            ?? "1 serve, \(s.orchestrators) orchestrator(s), \(s.workers) worker(s)"
        lines.append("  \(processes); \(s.database) \(postgres)")
        if s.backlog > 0 {
            lines.append("  backlog: \(s.backlog) messages queued for a day later, spread over the five queues, present for the whole run")
        }
        lines.append("")
        lines.append("Throughput, measured window \(number(window.seconds, 1)) s (after \(number(s.warmupSeconds, 1)) s warm-up)")
        lines.append("  completed sagas     \(pad(String(window.sagasCompleted), 8))   \(number(window.completedSagasPerSecond, 1))/s")
        lines.append("  saga transitions    \(pad(String(window.transitions), 8))   \(number(window.transitionsPerSecond, 1))/s")
        if let calibration, let ratio = sagasPerCommitCeiling {
            lines.append("  commit ceiling      \(pad(number(calibration.commitsPerSecond, 0), 8))   commits/s; completed sagas/s ÷ ceiling = \(number(ratio, 4))")
        }
        lines.append("")
        lines.append("Orders (whole run): placed \(orders.placed), accepted \(orders.accepted), terminal \(orders.completed), unfinished after settle \(orders.unfinished)"
                     + (s.mode == "open" ? ", dropped \(orders.dropped), late \(orders.late)" : ""))
        lines.append("  outcomes: " + listing(orders.outcomes))
        lines.append("  errors:   " + (orders.errors.isEmpty ? "none" : listing(orders.errors)))
        lines.append("")
        lines.append("Latency, POST sent → order terminal (ms), orders sent in the window")
        lines.append("  " + pad("", 40, left: true) + ["count", "mean", "p50", "p90", "p99", "p99.9", "max"].map { pad($0, 9) }.joined())
        for (name, value) in [
            ("headline (all but tok_timeout)", latency.headline), ("  of which confirmed", latency.confirmed),
            ("  of which rejected", latency.rejected), ("tok_timeout (ends after step timeout)", latency.timeoutToken),
        ] {
            guard let value else {
                lines.append("  " + pad(name, 40, left: true) + pad("0", 9))
                continue
            }
            let cells = [String(value.count)] + [value.meanMilliseconds, value.p50, value.p90, value.p99, value.p999, value.max].map { number($0, 1) }
            lines.append("  " + pad(name, 40, left: true) + cells.map { pad($0, 9) }.joined())
        }
        if let timeline = timelineText { lines.append(timeline) }
        if let calibration {
            lines.append("  floor: \(calibration.sequentialCommits) sequential commits × \(number(calibration.singleCommitMilliseconds, 2)) ms single-commit latency = \(number(calibration.latencyFloorMilliseconds, 1)) ms")
        }
        lines.append("")
        lines.append("PostgreSQL per completed saga (window deltas ÷ \(window.sagasCompleted) sagas)")
        lines.append("  commits \(optional(costPerSaga.commits, 1))   WAL flushes \(optional(costPerSaga.walFlushes, 2))   statements \(optional(costPerSaga.statements, 1))   WAL bytes \(optional(costPerSaga.walBytes, 0))   rows written \(optional(costPerSaga.rowsWritten, 1))")
        lines.append("")
        lines.append("CPU seconds in the window (\(number(window.seconds, 1)) s)")
        for (name, seconds) in [("eventicket processes", cpu.systemSeconds), ("PostgreSQL", cpu.postgresSeconds), ("bench (load generator)", Optional(cpu.benchSeconds))] {
            guard let seconds else {
                lines.append("  " + pad(name, 24, left: true) + pad("n/a", 9))
                continue
            }
            let perSaga = window.sagasCompleted > 0 ? "   \(number(seconds * 1000 / Double(window.sagasCompleted), 2)) ms/saga" : ""
            let cores = window.seconds > 0 ? "   \(number(seconds / window.seconds, 2)) cores" : ""
            lines.append("  " + pad(name, 24, left: true) + pad(number(seconds, 2), 9) + cores + perSaga)
        }
        if let busy = cpu.machineBusy {
            let cpus = host.map { " of \($0.cpus) CPUs" } ?? ""
            let perSecond = (timeline ?? []).compactMap(\.machineBusy)
            let range = perSecond.isEmpty ? "" : " (by second \(percent(perSecond.min()!)) to \(percent(perSecond.max()!)))"
            let ioWait = cpu.machineIOWait.map { ", I/O wait \(percent($0))" } ?? ""
            lines.append("  " + pad("machine (every process)", 24, left: true) + "  busy \(percent(busy))\(cpus)\(range)\(ioWait)")
            if let writeback = host?.kernelWriteback, !writeback.isEmpty {
                lines.append("  kernel writeback: " + writeback.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        if let queues {
            lines.append("")
            lines.append("Queues, from the services' metrics (\(metricsProcesses ?? 0) processes; quantiles within the histograms' buckets)")
            lines.append("  " + pad("", 14, left: true) + pad("hop wait, due → claimed (ms)", 36) + pad("batches", 30))
            lines.append("  " + pad("queue", 14, left: true)
                         + ["claims", "p50", "p90", "p99", "count", "msgs", "p50 ms", "p99 ms"].map { pad($0, 9) }.joined())
            for queue in queues {
                let quantiles = [queue.waitP50, queue.waitP90, queue.waitP99].map { $0.map { number($0, 1) } ?? "> 30 s" }
                let batches = [String(queue.batches), queue.messagesPerBatch.map { number($0, 1) } ?? "n/a"]
                    + [queue.batchTimeP50, queue.batchTimeP99].map { $0.map { number($0, 1) } ?? "n/a" }
                lines.append("  " + pad(queue.queue, 14, left: true) + ([String(queue.claims)] + quantiles + batches).map { pad($0, 9) }.joined())
            }
        }
        if !tables.isEmpty {
            lines.append("")
            lines.append(contentsOf: tablesText)
        }
        if let calibration {
            lines.append("")
            lines.append("Calibration: \(calibration.connections) connections × \(number(calibration.seconds, 0)) s of single-row INSERT commits: \(number(calibration.commitsPerSecond, 0)) commits/s; one connection: \(number(calibration.singleCommitMilliseconds, 2)) ms per commit")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The headline's p99 second by second, and the slowest seconds; nil without a timeline.
    private var timelineText: String? {
        let seconds = (timeline ?? []).filter { $0.p99 != nil }
        let p99s = seconds.compactMap(\.p99).sorted()
        guard let lowest = p99s.first, let highest = p99s.last else { return nil }
        let median = p99s[(p99s.count - 1) / 2]
        let slowest = seconds.sorted { ($0.p99 ?? 0) > ($1.p99 ?? 0) }.prefix(3).map { second in
            let busy = second.machineBusy.map { ", CPU \(percent($0)) busy" } ?? ""
            let ioWait = second.machineIOWait.map { ", \(percent($0)) I/O wait" } ?? ""
            return "\(second.second) s (\(number(second.p99 ?? 0, 1)) ms\(busy)\(ioWait))"
        }
        return "  by second sent (\(seconds.count) s): p99 from \(number(lowest, 1)) to \(number(highest, 1)) ms, median \(number(median, 1)); "
            + "slowest: " + slowest.joined(separator: ", ")
    }

    private func percent(_ fraction: Double) -> String {
        "\(number(fraction * 100, 0))%"
    }

    private func listing(_ counts: [String: Int]) -> String {
        counts.isEmpty ? "none" : counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    private func optional(_ value: Double?, _ decimals: Int) -> String {
        value.map { number($0, decimals) } ?? "n/a"
    }
}

/// `value` with `decimals` digits after the point.
func number(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

/// Pads to `width`, right-aligned unless `left`.
func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(width - text.count, 0))
    return left ? text + padding : padding + text
}
