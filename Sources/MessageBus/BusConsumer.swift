import Database
import EvenTicketContracts
import Logging
import PostgresNIO
import ServiceLifecycle

/// A competing consumer of one queue.
///
/// Claims batches under a lease; handles each message in its own transaction that also
/// acknowledges it and publishes the handler's messages; retries failures with exponential
/// backoff and jitter; moves a message to the dead letters after ``ConsumerConfiguration/maxAttempts``
/// deliveries or at once on a ``PermanentFailure``. A consumer that dies leaves its lease to
/// expire, and the messages come back to whoever claims next. On graceful shutdown it finishes
/// the message in hand and gives the rest of its batch back.
public struct BusConsumer: Service {
    let configuration: ConsumerConfiguration
    let store: QueueStore
    let handler: any MessageHandler
    let wakeups: Wakeups
    let logger: Logger

    public init(configuration: ConsumerConfiguration, client: PostgresClient, wakeups: Wakeups, handler: any MessageHandler, logger: Logger) {
        self.configuration = configuration
        self.store = QueueStore(client: client)
        self.handler = handler
        self.wakeups = wakeups
        var logger = logger
        logger[metadataKey: "consumer"] = "\(configuration.name)"
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<max(configuration.concurrency, 1) {
                    group.addTask { await self.claimLoop() }
                }
            }
        } onGracefulShutdown: {
            wakeups.signalAll()
        }
    }

    private var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    private func claimLoop() async {
        var failures = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        let queue = configuration.queue.rawValue
        while !stopping {
            let generation = wakeups.generation(of: queue)
            let batch: [ClaimedMessage]
            do {
                batch = try await store.claim(queue: configuration.queue, limit: configuration.batchSize, lease: configuration.lease, logger: logger)
                failures.reset()
            } catch {
                logger.warning("claim failed; backing off", metadata: ["error": "\(error.diagnosticDescription)"])
                try? await Task.sleep(for: failures.next())
                continue
            }
            if batch.isEmpty {
                let jitter = configuration.pollInterval * Double.random(in: 0.8..<1.2)
                await wakeups.wait(for: queue, since: generation, upTo: jitter)
                continue
            }
            for (index, message) in batch.enumerated() {
                if stopping {
                    for rest in batch[index...] { try? await store.release(rest, logger: logger) }
                    return
                }
                await process(message)
            }
        }
    }

    /// Handles one message; never throws: every outcome ends acknowledged, retried or dead.
    func process(_ message: ClaimedMessage) async {
        var logger = self.logger
        logger[metadataKey: "message.id"] = "\(message.envelope.messageID)"
        logger[metadataKey: "message.type"] = "\(message.envelope.typeName)"
        logger[metadataKey: "saga.id"] = "\(message.envelope.sagaID)"
        logger[metadataKey: "message.attempt"] = "\(message.envelope.attempt)"

        if message.envelope.attempt > configuration.maxAttempts {
            // Claimed more often than allowed without an outcome: its consumers died or timed out.
            await deadLetter(message, error: "delivered \(message.envelope.attempt - 1) times without being acknowledged", logger: logger)
            return
        }
        do {
            try await store.client.withTransaction(logger: logger) { connection in
                guard try await store.acknowledge(message, on: connection, logger: logger) else {
                    throw LeaseLost()
                }
                guard try await store.markProcessed(message, consumer: configuration.name, on: connection, logger: logger) else {
                    logger.debug("skipping a message handled before")
                    return
                }
                let outgoing = try await handler.handle(message.envelope, connection: connection, logger: logger)
                try await MessagePublisher.publish(outgoing, on: connection, logger: logger)
            }
        } catch {
            let cause = error.unwrappingTransaction
            if cause is LeaseLost {
                logger.info("lease expired before the message was acknowledged; another consumer has it")
                return
            }
            let reason = cause.diagnosticDescription
            if cause is PermanentFailure || cause is MessageDecodingError || message.envelope.attempt >= configuration.maxAttempts {
                await deadLetter(message, error: reason, logger: logger)
                return
            }
            let delay = Backoff.delay(attempt: message.envelope.attempt, base: configuration.retryBase, maximum: configuration.retryMaximum)
            logger.notice("handler failed; will retry", metadata: ["error": "\(reason)", "retry.in": "\(delay)"])
            do {
                try await store.retry(message, after: delay, error: reason, logger: logger)
            } catch {
                // The lease will expire and the message come back by itself.
                logger.warning("could not schedule the retry", metadata: ["error": "\(error.diagnosticDescription)"])
            }
        }
    }

    private func deadLetter(_ message: ClaimedMessage, error: String, logger: Logger) async {
        logger.error("moving message to the dead letters", metadata: ["error": "\(error)"])
        do {
            try await store.deadLetter(message, error: error, logger: logger)
        } catch {
            logger.warning("could not dead-letter the message", metadata: ["error": "\(error.diagnosticDescription)"])
        }
    }
}

private struct LeaseLost: Error {}
