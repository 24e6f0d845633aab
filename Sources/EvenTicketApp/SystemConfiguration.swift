import HTTPAPI
import Orchestrator
import Payment

/// Everything a process of EvenTicket can be configured with.
public struct SystemConfiguration: Sendable {
    public var api: APIConfiguration
    /// How long the orchestrator waits on one step before it compensates.
    public var stepTimeout: Duration
    /// How long the orchestrator waits on a compensation before it sends it again.
    public var compensationTimeout: Duration
    public var payment: PaymentConfiguration
    /// Claim loops per consumer.
    public var consumerConcurrency: Int
    /// Deliveries before a failing message becomes a dead letter.
    public var maxAttempts: Int
    /// First retry delay of a failed message (doubling, with jitter).
    public var retryBase: Duration
    /// How long a consumer may sit in a transaction holding claimed messages without a word to
    /// PostgreSQL before PostgreSQL ends its session (`idle_in_transaction_session_timeout`),
    /// which puts the messages back on the queue.
    public var lease: Duration
    /// Messages claimed and handled per transaction.
    public var batchSize: Int
    /// How long the processed-messages ledger remembers a message id (see ``LedgerPruner``).
    public var ledgerRetention: Duration
    /// Each service acts as its own least-privileged PostgreSQL role (see `migrations/0007`).
    public var serviceRoles: Bool
    /// How often the process reads the depth of the queues it consumes for its metrics (see
    /// `QueueGauges`); nil: never. `--metrics-port` sets it.
    public var queueSampling: Duration?

    public init(
        api: APIConfiguration = .init(),
        stepTimeout: Duration = .seconds(30),
        compensationTimeout: Duration? = nil,
        payment: PaymentConfiguration? = nil,
        consumerConcurrency: Int = 4,
        maxAttempts: Int = 5,
        retryBase: Duration = .milliseconds(200),
        lease: Duration = .seconds(30),
        batchSize: Int = 100,
        ledgerRetention: Duration = .seconds(3600),
        serviceRoles: Bool = true,
        queueSampling: Duration? = nil
    ) {
        self.api = api
        self.stepTimeout = stepTimeout
        self.compensationTimeout = compensationTimeout ?? stepTimeout
        // The slow test token must answer after the saga gave up on it.
        self.payment = payment ?? PaymentConfiguration(slowChargeDelay: stepTimeout * 2)
        self.consumerConcurrency = consumerConcurrency
        self.maxAttempts = maxAttempts
        self.retryBase = retryBase
        self.lease = lease
        self.batchSize = batchSize
        self.ledgerRetention = ledgerRetention
        self.serviceRoles = serviceRoles
        self.queueSampling = queueSampling
    }

    /// The orchestrator engine these timeouts configure.
    public var sagaEngine: SagaEngine {
        SagaEngine(stepTimeout: stepTimeout, compensationTimeout: compensationTimeout)
    }
}
