import Foundation

extension BenchReport {
    /// The report of a finished measurement.
    init(
        configuration: BenchConfiguration, startedAt: Date, ledger: OrderLedger, result: Measurement.Result,
        transitions: Int64, calibration: Calibration.Result?, server: Server?
    ) {
        let state = ledger.state.value
        let seconds = result.windowEnd.timeIntervalSince(result.windowStart)
        let completed = state.completedInWindow
        func perSecond(_ count: Double) -> Double { seconds > 0 ? count / seconds : 0 }
        func perSaga(_ total: Int64?) -> Double? {
            guard let total, completed > 0 else { return nil }
            return Double(total) / Double(completed)
        }
        let delta = PostgresStatistics.delta(from: result.statisticsStart, to: result.statisticsEnd, ownQueries: result.ownQueries)
        self.startedAt = startedAt
        outputDirectory = configuration.outputDirectory
        settings = Settings(configuration)
        self.server = server
        window = Window(
            seconds: seconds, ordersPlaced: state.placedInWindow, sagasCompleted: completed,
            completedSagasPerSecond: perSecond(Double(completed)),
            transitions: transitions, transitionsPerSecond: perSecond(Double(transitions)))
        orders = Orders(
            scheduled: state.scheduled, placed: state.placed, accepted: state.accepted, completed: state.completed,
            unfinished: result.unfinished, dropped: state.dropped, late: state.late, errors: state.errors, outcomes: state.outcomes)
        latency = Latencies(
            headline: Latency(microseconds: state.headline), confirmed: Latency(microseconds: state.headlineConfirmed),
            rejected: Latency(microseconds: state.headlineRejected), timeoutToken: Latency(microseconds: state.slowClass))
        costPerSaga = CostPerSaga(
            commits: perSaga(delta.commits), walFlushes: perSaga(delta.walFlushes), statements: perSaga(delta.statements),
            walBytes: perSaga(delta.walBytes), rowsWritten: perSaga(delta.rowsWritten))
        let machine = result.cpuEnd.machine.flatMap { end in result.cpuStart.machine.flatMap { end.shares(since: $0) } }
        cpu = CPU(
            systemSeconds: result.cpuEnd.system.flatMap { end in result.cpuStart.system.map { end - $0 } },
            postgresSeconds: result.cpuEnd.postgres.flatMap { end in result.cpuStart.postgres.map { end - $0 } },
            benchSeconds: result.cpuEnd.bench - result.cpuStart.bench,
            machineBusy: machine?.busy, machineIOWait: machine?.ioWait)
        host = Host.current()
        // Only the window's whole seconds: a last partial second has fewer orders and no CPU reading.
        timeline = (0..<Int(seconds)).map { second in
            Second(
                second: second, microseconds: second < state.headlineBySecond.count ? state.headlineBySecond[second] : [],
                machine: second < result.machineBySecond.count ? result.machineBySecond[second] : nil)
        }
        tables = TableStatistics.tables.map { Table(name: $0, before: result.tablesStart[$0], after: result.tablesEnd[$0]) }
        self.calibration = calibration
        queues = result.serviceMetrics?.summary
        metricsProcesses = result.serviceMetrics == nil ? nil : result.serviceMetricsAnswered
        // Last: the closure reads `window`, so every stored property must be set by now.
        sagasPerCommitCeiling = calibration.flatMap { $0.commitsPerSecond > 0 ? window.completedSagasPerSecond / $0.commitsPerSecond : nil }
    }

    /// The plot's title.
    var plotTitle: String {
        let load = settings.mode == "open" ? "\(number(settings.rate ?? 0, 0)) orders/s" : "\(settings.concurrency ?? 0) clients"
        return "EvenTicket bench: POST → terminal latency by percentile (\(load), \(window.sagasCompleted) sagas in \(number(window.seconds, 0)) s)"
    }

    /// The plot's lines: the headline class and the timeout-token class.
    var plotSeries: [LatencyPlot.Series] {
        var series: [LatencyPlot.Series] = []
        if let headline = latency.headline {
            series.append(.init(name: "all but tok_timeout (\(headline.count) orders)", color: "#1f77b4", points: headline.distribution))
        }
        if let timeout = latency.timeoutToken {
            series.append(.init(name: "tok_timeout (\(timeout.count) orders)", color: "#ff7f0e", points: timeout.distribution))
        }
        return series
    }
}

extension BenchReport.Settings {
    init(_ configuration: BenchConfiguration) {
        switch configuration.load {
        case .closed(let concurrency):
            mode = "closed"
            self.concurrency = concurrency
        case .open(let rate, let maxInFlight):
            mode = "open"
            self.rate = rate
            self.maxInFlight = maxInFlight
        }
        durationSeconds = configuration.duration
        warmupSeconds = configuration.warmup
        orders = configuration.orders
        settleSeconds = configuration.settle
        mix = configuration.mix.description
        stepTimeoutSeconds = configuration.stepTimeout
        orchestrators = configuration.orchestrators
        workers = configuration.workers
        existingSystem = configuration.existingSystem
        backlog = configuration.backlog
        database = switch configuration.database {
        case .embedded: "embedded"
        case .external: "external"
        }
    }
}
