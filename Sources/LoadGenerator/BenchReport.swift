import Foundation
import Histogram

/// The result of a bench run, written as `report.json` and rendered as text.
public struct BenchReport: Sendable, Codable, Equatable {
    /// What was run.
    public struct Settings: Sendable, Codable, Equatable {
        /// `closed` or `open`.
        public var mode: String
        public var concurrency: Int?
        public var rate: Double?
        public var maxInFlight: Int?
        public var durationSeconds: Double?
        public var warmupSeconds: Double
        public var orders: Int?
        public var settleSeconds: Double
        public var mix: String
        public var stepTimeoutSeconds: Double
        public var orchestrators: Int
        public var workers: Int
        /// `embedded` (fsync on) or `external`.
        public var database: String
        /// `--no-spawn --url`: the running system that was driven (nil when the bench started its own).
        public var existingSystem: String?
        /// `--backlog`: messages queued for a day later, present for the whole run.
        public var backlog: Int
    }

    /// The measurement window: after the warm-up, until placing stopped.
    public struct Window: Sendable, Codable, Equatable {
        public var seconds: Double
        /// Orders sent during the window.
        public var ordersPlaced: Int
        /// Orders that became terminal during the window, whenever they were placed.
        public var sagasCompleted: Int
        public var completedSagasPerSecond: Double
        /// `orchestrator.saga_transitions` rows that started a saga or applied an input stamped in the window.
        public var transitions: Int64
        public var transitionsPerSecond: Double
    }

    /// Counts over the whole run, warm-up included.
    public struct Orders: Sendable, Codable, Equatable {
        /// Order slots taken (open loop: sent plus dropped).
        public var scheduled: Int
        /// `POST /orders` requests sent.
        public var placed: Int
        /// Answered 202.
        public var accepted: Int
        /// Seen terminal.
        public var completed: Int
        /// Accepted but still pending when the settle time ran out.
        public var unfinished: Int
        /// Open loop: not sent because too many requests were in flight.
        public var dropped: Int
        /// Open loop: sent more than 10 ms behind schedule.
        public var late: Int
        /// Failed requests by kind: `http_<status>` or `transport: <error>`.
        public var errors: [String: Int]
        /// Terminal orders by `status` or `status:reason`.
        public var outcomes: [String: Int]
    }

    /// One point of a percentile distribution.
    public struct Point: Sendable, Codable, Equatable {
        /// 0 to 100.
        public var percentile: Double
        public var milliseconds: Double
    }

    /// Latency from sending `POST /orders` to the order's terminal `updated_at`, for orders sent in the window.
    public struct Latency: Sendable, Codable, Equatable {
        public var count: Int
        public var meanMilliseconds: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        /// The percentile distribution, for plotting.
        public var distribution: [Point]
    }

    public struct Latencies: Sendable, Codable, Equatable {
        /// Every order not paid with `tok_timeout`: the headline figure.
        public var headline: Latency?
        /// The headline's confirmed orders.
        public var confirmed: Latency?
        /// The headline's rejected orders (declined payments, tickets unavailable), which undo
        /// their finished steps before they end.
        public var rejected: Latency?
        /// Orders paid with `tok_timeout`, which end only after the step timeout by design.
        public var timeoutToken: Latency?
    }

    /// PostgreSQL work per completed saga: window deltas of the statistics views ÷ sagas completed.
    public struct CostPerSaga: Sendable, Codable, Equatable {
        /// Every transaction of the database, including the one each listening connection runs
        /// to read the notifications it is woken for (PostgreSQL does that in a transaction),
        /// and each statement of the services' notifiers (see `BusNotifier`).
        public var commits: Double?
        /// WAL flushes (`pg_stat_wal.wal_sync`, for the whole server): the fsyncs commits waited
        /// on, fewer than the commits that wrote, since one flush serves every commit waiting.
        public var walFlushes: Double?
        /// nil when pg_stat_statements is not available.
        public var statements: Double?
        public var walBytes: Double?
        public var rowsWritten: Double?

        public init(commits: Double?, walFlushes: Double? = nil, statements: Double?, walBytes: Double?, rowsWritten: Double?) {
            self.commits = commits
            self.walFlushes = walFlushes
            self.statements = statements
            self.walBytes = walBytes
            self.rowsWritten = rowsWritten
        }
    }

    /// CPU seconds used during the window.
    public struct CPU: Sendable, Codable, Equatable {
        /// The eventicket child processes (serve, orchestrators, workers); nil with `--no-spawn`.
        public var systemSeconds: Double?
        /// The postmaster and its children (embedded server only), less the bench's poller backend.
        public var postgresSeconds: Double?
        /// The bench process itself: the load generator's cost.
        public var benchSeconds: Double
        /// The share of the machine's CPU time that was busy over the window, 0 to 1, every
        /// process counted (`/proc/stat`; steal counts as busy); nil where it cannot be read.
        public var machineBusy: Double?
        /// The share that was idle while a process waited for the disk.
        public var machineIOWait: Double?
    }

    /// The machine the bench ran on.
    public struct Host: Sendable, Codable, Equatable {
        public var cpus: Int
        /// The kernel's page-cache writeback settings when the report was made (`/proc/sys/vm`:
        /// `dirty_background_bytes`, `dirty_background_ratio`, `dirty_expire_centisecs`,
        /// `dirty_writeback_centisecs`); empty where they cannot be read. PostgreSQL 15 extends
        /// a table by writing zeroed pages it does not sync; with the defaults the kernel writes
        /// them all back once they are 30 s old, and the WAL's flushes wait behind that.
        public var kernelWriteback: [String: Int]

        /// This machine now.
        static func current() -> Host {
            var settings: [String: Int] = [:]
            for name in ["dirty_background_bytes", "dirty_background_ratio", "dirty_expire_centisecs", "dirty_writeback_centisecs"] {
                guard let text = try? String(contentsOfFile: "/proc/sys/vm/\(name)", encoding: .utf8),
                      let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
                settings[name] = value
            }
            return Host(cpus: ProcessInfo.processInfo.activeProcessorCount, kernelWriteback: settings)
        }
    }

    /// One second of the window: the latency of the headline orders sent in it, and how busy the
    /// machine's CPUs were in it. Shows whether a run's p99 comes from a few bad seconds or from
    /// all of them.
    public struct Second: Sendable, Codable, Equatable {
        /// Whole seconds from the window's start.
        public var second: Int
        /// Headline orders sent in this second (and seen terminal).
        public var orders: Int
        /// Their latency, in ms (nearest-rank percentiles); nil without orders.
        public var p50: Double?
        public var p99: Double?
        public var max: Double?
        /// The machine's busy share over this second of the window, 0 to 1.
        public var machineBusy: Double?
        /// The share that was idle while a process waited for the disk.
        public var machineIOWait: Double?
    }

    /// One queue as its consumers' metrics saw it over the window (`--metrics`): how long its
    /// messages waited, once due, for the claim that took them (`eventicket_bus_delivery_delay_seconds`),
    /// and its committed batches (`eventicket_bus_batch_duration_seconds`, `eventicket_bus_batch_messages`).
    /// Quantiles in ms, estimated within the histograms' buckets (0.5, 1, 2, 5, 10, 25, 50, 100,
    /// 250, 500 ms, …); nil beyond the last finite one.
    public struct QueueFigures: Sendable, Codable, Equatable {
        public var queue: String
        /// First deliveries claimed.
        public var claims: Int
        public var waitP50: Double?
        public var waitP90: Double?
        public var waitP99: Double?
        /// Committed transactions that claimed messages, and their mean size.
        public var batches: Int
        public var messagesPerBatch: Double?
        /// From `BEGIN` to the commit.
        public var batchTimeP50: Double?
        public var batchTimeP99: Double?
    }

    /// The PostgreSQL server measured, as it reported itself.
    public struct Server: Sendable, Codable, Equatable {
        public var version: String
        public var fsync: String
        public var synchronousCommit: String
    }

    public var startedAt: Date
    public var outputDirectory: String
    public var settings: Settings
    public var server: Server?
    /// Absent from reports written before it existed.
    public var host: Host?
    public var window: Window
    public var orders: Orders
    public var latency: Latencies
    public var costPerSaga: CostPerSaga
    public var cpu: CPU
    public var calibration: Calibration.Result?
    /// Completed sagas per second ÷ the calibrated commit ceiling.
    public var sagasPerCommitCeiling: Double?
    /// The tables that churn, at the start of the window and after the settle time.
    public var tables: [Table]
    /// Each queue's hop waits and batches, from the services' metrics (`--metrics`); nil without them.
    public var queues: [QueueFigures]?
    /// Of the child processes, how many answered `GET /metrics` at both edges of the window.
    public var metricsProcesses: Int?
    /// The window second by second (reports written before it existed have none).
    public var timeline: [Second]?

    /// The encoder for `report.json` (and `--json`).
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension BenchReport.Second {
    /// A second from its orders' latencies in microseconds, in any order.
    init(second: Int, microseconds: [UInt32], machine: ProcessCPU.MachineShares?) {
        let sorted = microseconds.sorted()
        func percentile(_ level: Double) -> Double? {
            guard !sorted.isEmpty else { return nil }
            let rank = Int((level / 100 * Double(sorted.count)).rounded(.up))
            return Double(sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]) / 1000
        }
        self.init(second: second, orders: sorted.count, p50: percentile(50), p99: percentile(99), max: percentile(100), machineBusy: machine?.busy, machineIOWait: machine?.ioWait)
    }
}

extension BenchReport.Latency {
    /// Summarises a histogram of microseconds; nil when it is empty.
    init?(microseconds histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else { return nil }
        func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
        count = Int(histogram.totalCount)
        meanMilliseconds = histogram.mean / 1000
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        max = ms(histogram.max)
        var points: [BenchReport.Point] = []
        for step in histogram.percentiles(ticksPerHalfDistance: 5) {
            let point = BenchReport.Point(percentile: step.percentileLevelIteratedTo, milliseconds: ms(step.value))
            if points.last != point { points.append(point) }
        }
        distribution = points
    }
}
