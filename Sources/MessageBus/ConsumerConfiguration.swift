import EvenTicketContracts

/// How a ``BusConsumer`` claims and retries.
public struct ConsumerConfiguration: Sendable {
    /// The queue to consume.
    public var queue: Queue
    /// Names the consumer in the processed-messages ledger; keep it stable across restarts.
    public var name: String
    /// Messages claimed, and handled, per transaction.
    public var batchSize: Int
    /// Deliveries before a failing message is moved to the dead letters.
    public var maxAttempts: Int
    /// First retry delay; it doubles per attempt up to ``retryMaximum``, with jitter.
    public var retryBase: Duration
    public var retryMaximum: Duration
    /// Fallback poll when no notification arrives (delayed messages, missed notifications).
    public var pollInterval: Duration
    /// Claim loops run side by side in this process.
    public var concurrency: Int
    /// How long a graceful shutdown waits for the batches in hand before cancelling them (and
    /// closing their connections).
    public var drainTimeout: Duration
    /// A batch still running this long has its connection closed (it rolls back).
    public var batchTimeout: Duration
    /// Messages each claim loop handles one at a time, each counted first, after it starts and
    /// after a batch of its ended with its connection, before it claims batches again (it stops
    /// sooner when nothing is queued); see ``BusConsumer``'s counted handlings. `nil`: a
    /// batch's worth (``batchSize``). 0 turns counting off, and with it the bound on a message
    /// whose handling crashes its process every time.
    public var countedHandlings: Int?
    /// How long a message whose handling a consumer just counted is left to it by the consumers
    /// of other processes (see ``BusConsumer``'s counted handlings). It covers the moment
    /// between the count and the claim, which is a round trip unless the counter stalls.
    public var countingLease: Duration

    public init(
        queue: Queue,
        name: String? = nil,
        batchSize: Int = 100,
        maxAttempts: Int = 5,
        retryBase: Duration = .milliseconds(200),
        retryMaximum: Duration = .seconds(30),
        pollInterval: Duration = .milliseconds(500),
        concurrency: Int = 2,
        drainTimeout: Duration = .seconds(8),
        batchTimeout: Duration = .seconds(60),
        countedHandlings: Int? = nil,
        countingLease: Duration = .milliseconds(500)
    ) {
        self.queue = queue
        self.name = name ?? queue.rawValue
        self.batchSize = batchSize
        self.maxAttempts = maxAttempts
        self.retryBase = retryBase
        self.retryMaximum = retryMaximum
        self.pollInterval = pollInterval
        self.concurrency = concurrency
        self.drainTimeout = drainTimeout
        self.batchTimeout = batchTimeout
        self.countedHandlings = countedHandlings
        self.countingLease = countingLease
    }
}
