import Database
import Foundation
import Logging

/// Everything a bench run needs, decided by the command line before the run starts.
public struct BenchConfiguration: Sendable {
    /// How orders are placed.
    public enum Load: Sendable, Equatable {
        /// `concurrency` virtual clients, each placing an order, waiting until it is terminal, then the next.
        case closed(concurrency: Int)
        /// `rate` orders per second on schedule, whatever the completions; at most
        /// `maxInFlight` HTTP requests at once (an order due while that many are open is dropped).
        case open(rate: Double, maxInFlight: Int)
    }

    /// Which PostgreSQL the system under test uses.
    public enum Database: Sendable {
        /// A PostgreSQL the bench starts (fsync on), optionally keeping its cluster in a folder.
        case embedded(keepData: String?)
        /// An existing server: the URL as given (handed to the children as is) and parsed.
        case external(url: String, parsed: DatabaseURL)
    }

    public var load: Load
    /// Measured seconds after the warm-up; nil with only `orders` (then placing stops at the count).
    public var duration: Double?
    /// Seconds of load before measuring starts (not counted).
    public var warmup: Double
    /// Stop placing after this many orders (warm-up included).
    public var orders: Int?
    /// Seconds to wait for in-flight orders to become terminal after placing stops.
    public var settle: Double
    /// Payment tokens and their weights.
    public var mix: TokenMix
    /// The orchestrator's `--step-timeout`; workers get twice this as `--slow-charge-delay`.
    public var stepTimeout: Double
    /// How many `orchestrator` processes to start.
    public var orchestrators: Int
    /// How many `worker` processes to start.
    public var workers: Int
    /// Measure the server's commit ceiling and single-commit latency before the run.
    public var calibrate: Bool
    /// Sequential commits on one saga's critical path, for the latency floor: a confirmed
    /// order's are the intake's, the reservation's or the invoice's (they run side by side), the
    /// orchestrator's, the payment's and the orchestrator's, which confirms the order too.
    public var sequentialCommits: Int
    public var database: Database
    /// Where the report, the plot and the children's logs go.
    public var outputDirectory: String
    /// `--no-spawn --url`: drive the system already running at this base URL (`http://host:port`)
    /// instead of starting one; needs an external database, the one that system uses.
    public var existingSystem: String?
    /// The log level handed to the child processes.
    public var childLogLevel: Logger.Level
    /// More options handed to every child process (`--consumer-concurrency`, `--log-format`).
    public var childArguments: [String]
    /// More options handed to the orchestrators and workers only (`--batch-size`: `serve` runs
    /// no consumer, and refuses it).
    public var consumerArguments: [String]
    /// Fail when no order is accepted or completes for this many seconds while some are expected.
    public var stallTimeout: Double
    /// Messages queued before the load starts that stay queued for the whole run (due in a
    /// day), spread over the five queues; deleted afterwards from an external database.
    public var backlog: Int
    /// Run the children with their metrics on (`--metrics-port`), and report each hop's wait
    /// per queue from them.
    public var metrics: Bool

    /// Defaults: closed loop of 16 clients, 3 s warm-up, 20 s measured, 30 s settle, the standard
    /// mix, 2 s step timeout, one orchestrator and one worker, an embedded PostgreSQL, no backlog.
    public init(
        load: Load = .closed(concurrency: 16),
        duration: Double? = 20,
        warmup: Double = 3,
        orders: Int? = nil,
        settle: Double = 30,
        mix: TokenMix = .standard,
        stepTimeout: Double = 2,
        orchestrators: Int = 1,
        workers: Int = 1,
        calibrate: Bool = false,
        sequentialCommits: Int = 5,
        database: Database = .embedded(keepData: nil),
        outputDirectory: String = BenchConfiguration.defaultOutputDirectory(),
        existingSystem: String? = nil,
        childLogLevel: Logger.Level = .info,
        childArguments: [String] = [],
        consumerArguments: [String] = [],
        stallTimeout: Double = 60,
        backlog: Int = 0,
        metrics: Bool = false
    ) {
        self.load = load
        self.duration = duration
        self.warmup = warmup
        self.orders = orders
        self.settle = settle
        self.mix = mix
        self.stepTimeout = stepTimeout
        self.orchestrators = orchestrators
        self.workers = workers
        self.calibrate = calibrate
        self.sequentialCommits = sequentialCommits
        self.database = database
        self.outputDirectory = outputDirectory
        self.existingSystem = existingSystem
        self.childLogLevel = childLogLevel
        self.childArguments = childArguments
        self.consumerArguments = consumerArguments
        self.stallTimeout = stallTimeout
        self.backlog = backlog
        self.metrics = metrics
    }

    /// `.eventicket/bench/<UTC timestamp>` under the current folder.
    public static func defaultOutputDirectory(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return ".eventicket/bench/" + formatter.string(from: now)
    }

    /// HTTP connections the client may keep to the API.
    var httpConnections: Int {
        switch load {
        case .closed(let concurrency): min(max(concurrency, 1), 256)
        case .open(_, let maxInFlight): min(max(maxInFlight, 1), 256)
        }
    }
}
