import EvenTicketContracts
import Metrics
import Synchronization

/// What the bus reports through swift-metrics: a consumer's batches and messages, and the
/// messages that committed transactions published (the consumers', the deadline sweeper's and
/// the order intake's; not those of the operator commands that retry a dead letter or a saga).
/// The process chooses the backend
/// (`--metrics-port` exports them for Prometheus); without one, swift-metrics drops them.
///
/// Counts are taken after the commit that made them true: a batch that rolls back (and is
/// handled again, one message at a time) is not counted twice.
public struct BusMetrics: Sendable {
    /// Metric names, as Prometheus shows them.
    public enum Name {
        public static let batches = "eventicket_bus_batches_total"
        public static let batchMessages = "eventicket_bus_batch_messages"
        public static let batchDuration = "eventicket_bus_batch_duration_seconds"
        public static let messages = "eventicket_bus_messages_total"
        public static let deliveryDelay = "eventicket_bus_delivery_delay_seconds"
        public static let published = "eventicket_bus_published_total"
        public static let interruptedHandlings = "eventicket_bus_interrupted_handlings_total"
    }

    /// What became of a claimed message.
    enum Outcome: String {
        /// Its handler ran and the transaction committed.
        case handled
        /// The processed-messages ledger had its id: a redelivery, skipped.
        case duplicate
        /// Its handler failed; it is back on the queue for a later attempt.
        case retried
        /// Its handler failed for good, or too often: it is a dead letter now.
        case deadLettered = "dead_lettered"
    }

    private let batches: Counter
    private let batchMessages: Recorder
    private let batchDuration: Timer
    private let outcomes: [Outcome: Counter]
    private let deliveryDelay: Timer
    private let interruptedHandlings: Counter
    /// The messages this consumer's transactions published.
    let published: PublishedMetrics

    /// The metrics of a consumer of `queue`, from `factory` (by default the process's, or the
    /// task's, see swift-metrics' `withMetricsFactory`).
    public init(queue: Queue, factory: any MetricsFactory = MetricsSystem.factory) {
        let dimensions = [("queue", queue.rawValue)]
        batches = Counter(label: Name.batches, dimensions: dimensions, factory: factory)
        batchMessages = Recorder(label: Name.batchMessages, dimensions: dimensions, aggregate: true, factory: factory)
        batchDuration = Timer(label: Name.batchDuration, dimensions: dimensions, factory: factory)
        deliveryDelay = Timer(label: Name.deliveryDelay, dimensions: dimensions, factory: factory)
        interruptedHandlings = Counter(label: Name.interruptedHandlings, dimensions: dimensions, factory: factory)
        var outcomes: [Outcome: Counter] = [:]
        for outcome in [Outcome.handled, .duplicate, .retried, .deadLettered] {
            outcomes[outcome] = Counter(label: Name.messages, dimensions: dimensions + [("outcome", outcome.rawValue)], factory: factory)
        }
        self.outcomes = outcomes
        published = PublishedMetrics(factory: factory)
    }

    /// A batch committed: `claimed` messages, of which `duplicates` were skipped, in `duration`
    /// from its `BEGIN` to its commit.
    func batchCommitted(claimed: Int, duplicates: Int, handled: Int, duration: Duration) {
        guard claimed > 0 else { return }
        batches.increment()
        batchMessages.record(claimed)
        batchDuration.record(duration)
        count(.duplicate, duplicates)
        count(.handled, handled)
    }

    func count(_ outcome: Outcome, _ messages: Int = 1) {
        if messages > 0 { outcomes[outcome]?.increment(by: messages) }
    }

    /// A counted handling found that the one before it, of the same message, was interrupted:
    /// its process or its connection ended before its transaction did.
    func handlingInterrupted() {
        interruptedHandlings.increment()
    }

    /// How long each of a batch's first deliveries waited, once due, for the claim that took it.
    func delivered(delays: some Sequence<Double>) {
        for seconds in delays { deliveryDelay.recordSeconds(seconds) }
    }
}

extension Timer {
    fileprivate func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    fileprivate func recordSeconds(_ seconds: Double) {
        recordNanoseconds(Int64((max(seconds, 0) * 1e9).rounded()))
    }
}

/// Messages published by transactions that committed, counted by destination queue and type
/// (`eventicket_bus_published_total`): one counter per queue and type, made the first time
/// that type is published.
public final class PublishedMetrics: Sendable {
    private struct Key: Hashable {
        var queue: Queue
        var type: String
    }

    private let factory: any MetricsFactory
    private let counters = Mutex<[Key: Counter]>([:])
    /// False without a metrics backend: then counting would only tally for nothing, per batch.
    private let enabled: Bool

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        enabled = !(factory is NOOPMetricsHandler)
    }

    /// Counts `messages`, which a transaction that committed published.
    public func count(_ messages: [OutgoingMessage]) {
        guard enabled, !messages.isEmpty else { return }
        var tally: [Key: Int] = [:]
        for message in messages {
            tally[Key(queue: message.queue, type: Self.typeName(message.envelope.typeName)), default: 0] += 1
        }
        let factory = self.factory
        let counters = self.counters.withLock { counters in
            tally.map { key, count in
                let counter = counters[key] ?? {
                    let counter = Counter(
                        label: BusMetrics.Name.published,
                        dimensions: [("queue", key.queue.rawValue), ("type", key.type)], factory: factory)
                    counters[key] = counter
                    return counter
                }()
                return (counter, count)
            }
        }
        for (counter, count) in counters { counter.increment(by: count) }
    }

    /// `ReserveTickets.v1` is counted as `ReserveTickets`.
    static func typeName(_ versioned: String) -> String {
        guard let dot = versioned.lastIndex(of: ".") else { return versioned }
        return String(versioned[..<dot])
    }
}
