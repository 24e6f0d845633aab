import Database
import EvenTicketContracts
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A competing consumer of one queue.
///
/// Each claim loop takes a batch in one transaction: it claims visible messages (`DELETE …
/// FOR UPDATE SKIP LOCKED`, which also records their ids in the processed-messages ledger),
/// runs the handler on the batch, publishes what the handler returns, and commits. Other
/// consumers skip the locked rows; a rollback, a crash or a lost connection puts them back at
/// once. If a batch fails (even a batch of one), it rolls back entirely and each of its first
/// deliveries is claimed again by id (waiting for a consumer that took it in between to
/// finish with it) and handled alone, behind a savepoint; a message whose handler fails alone
/// is retried with exponential backoff and jitter, or moved to the dead letters after
/// ``ConsumerConfiguration/maxAttempts`` deliveries (at once on a ``PermanentFailure``). A
/// handler may therefore see every message of a failed batch twice, the innocent ones too:
/// once in the batch that rolled back, once alone (or in another consumer's batch). The
/// savepoint is taken only on that second, careful pass, so a batch that succeeds (nearly all
/// of them) pays for no savepoint. Each transaction runs under its own
/// ``ConsumerConfiguration/batchTimeout``. A batch that waits past the lock or the statement
/// timeout is taken apart the same way, each message on a connection of its own (see
/// `isolate`). On graceful shutdown the batch in hand finishes and the loops stop.
public struct BusConsumer: Service {
    let configuration: ConsumerConfiguration
    let client: PostgresClient
    let store = QueueStore()
    let handler: any MessageHandler
    let wakeups: Wakeups
    let gate: HandlingGate
    let logger: Logger
    let metrics: BusMetrics
    /// What each claim loop is doing, for the log when a shutdown drain times out.
    private let activity: LoopActivity
    private var watchdog: ConnectionWatchdog {
        ConnectionWatchdog(timeout: configuration.batchTimeout, drain: configuration.drainTimeout, logger: logger)
    }

    /// `wakeups` wakes this consumer's loops, and after each commit the consumers of the queues
    /// it published to (see ``Wakeups/committed(_:)``). `gate` is shared by every consumer of the
    /// process (see ``HandlingGate``).
    public init(
        configuration: ConsumerConfiguration, client: PostgresClient, wakeups: Wakeups, gate: HandlingGate,
        handler: any MessageHandler, logger: Logger
    ) {
        self.configuration = configuration
        self.client = client
        self.handler = handler
        self.wakeups = wakeups
        self.gate = gate
        self.metrics = BusMetrics(queue: configuration.queue)
        self.activity = LoopActivity(loops: max(configuration.concurrency, 1))
        var logger = logger
        logger[metadataKey: "consumer"] = "\(configuration.name)"
        self.logger = logger
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withGracefulShutdownHandler {
                    await withDiscardingTaskGroup { loops in
                        for index in 0..<max(configuration.concurrency, 1) {
                            loops.addTask { await ClaimLoop.$index.withValue(index) { await self.claimLoop(index) } }
                        }
                    }
                } onGracefulShutdown: {
                    wakeups.signalAll()
                }
            }
            // A bounded drain: loops still busy this long after shutdown began (a query that
            // does not come back, a connection that never frees up) are cancelled. Their
            // transactions roll back, so their messages go back to the queue.
            group.addTask {
                guard (try? await gracefulShutdown()) != nil else { return }
                guard (try? await Task.sleep(for: configuration.drainTimeout)) != nil else { return }
                logger.warning("batches still busy after the drain timeout; cancelling them", metadata: [
                    "timeout": "\(configuration.drainTimeout)", "loops": "\(activity.describe())",
                ])
            }
            await group.next()
            group.cancelAll()
        }
    }

    private var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    private var countedHandlings: Int { max(configuration.countedHandlings ?? configuration.batchSize, 0) }

    /// Claims batch after batch on one leased connection, kept until it fails, closes or the loop
    /// stops (leasing and returning it per batch cost the pool's idle and keep-alive timers each
    /// time, armed through Dispatch's threads, and a task hop before every claim).
    private func claimLoop(_ index: Int) async {
        var failures = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        var deferrals = DeferralLog()
        let queue = configuration.queue.rawValue
        // Messages still to handle counted, one at a time, before claiming batches (see
        // `handleCounted`): after this start, and after a batch that ended with its connection.
        var counted = countedHandlings
        defer { activity.set(index, .stopped) }
        while !stopping {
            do {
                activity.set(index, .waitingForConnection)
                try await client.withConnection { connection in
                    activity.set(index, .leasedConnection)
                    // A connection the server ended while it sat between batches goes back to
                    // the pool (which drops it) before it is used again.
                    while !stopping, !connection.isClosed {
                        let generation = wakeups.generation(of: queue)
                        if counted > 0 {
                            activity.set(index, .handlingCounted)
                            switch try await self.handleCounted(on: connection) {
                            case .handled:
                                counted -= 1
                                failures.reset()
                                continue
                            case .leasedElsewhere:
                                // Only messages counted just now (elsewhere) are left: wait
                                // for its handlings to commit or their leases to run out, still
                                // counting (one of them could be the crash to count).
                                activity.set(index, .waitingForCountedElsewhere)
                                try await Task.sleep(for: Self.leaseRecheck)
                                continue
                            case .nothingQueued:
                                // Every message of a batch that ended with its process or
                                // connection has been handled (or taken by another loop).
                                counted = 0
                            }
                        }
                        let batch = try await self.consumeBatch(on: connection)
                        failures.reset()
                        deferrals.note(batch.deferred, logger: logger)
                        activity.set(index, .betweenBatches)
                        if batch.claimed > 0, batch.claimed + batch.deferred == configuration.batchSize {
                            // More may be waiting: let another loop help.
                            wakeups.signal(queue)
                            continue
                        }
                        // The queue had no more than this batch: claim again once something new
                        // is published (returns at once if that happened while this batch ran),
                        // instead of paying for an empty claim now. Messages left queued for a
                        // saga row held elsewhere are tried again soon: the transaction holding
                        // it may publish nothing to this queue when it ends.
                        var wait = configuration.pollInterval * Double.random(in: 0.8..<1.2)
                        if batch.deferred > 0 {
                            wait = min(wait, Self.deferredRetry)
                        }
                        activity.set(index, .waitingForWork)
                        await wakeups.wait(for: queue, since: generation, upTo: wait)
                    }
                }
            } catch let timedOut as BatchTimedOut where !stopping {
                activity.set(index, .isolating(after: timedOut.wait))
                await isolate(timedOut)
            } catch {
                if stopping {
                    // Shutting down: the pool may be gone already; nothing to back off for.
                    logger.debug("consuming ended by shutdown", metadata: ["error": "\(error.diagnosticDescription)"])
                    break
                }
                logger.warning("consuming failed; backing off", metadata: ["error": "\(error.diagnosticDescription)"])
                if error.isConnectionFailure {
                    // The batch in hand may have ended with its connection: its messages are back
                    // on the queue, uncounted.
                    counted = countedHandlings
                }
                activity.set(index, .backingOff)
                try? await Task.sleep(for: failures.next())
            }
        }
    }

    /// How soon a loop claims again after it left messages queued for saga rows held elsewhere
    /// (at once when something new was published meanwhile, as usual).
    static let deferredRetry = Duration.milliseconds(50)

    /// How long a message waits before it is claimed again when a row it needs stayed locked
    /// elsewhere past the lock timeout, even when it was tried alone.
    static let lockWaitPostponement = Duration.seconds(10)

    /// A batch whose handler waited too long: past the lock timeout for a row another
    /// transaction holds, or past the statement timeout. It rolled back, and its messages are
    /// back on the queue.
    struct BatchTimedOut: Error {
        enum Wait: CustomStringConvertible {
            /// For a row lock: not the messages' fault, and the lock may be held for long.
            case lock
            /// Past the statement timeout: maybe one message's fault.
            case statement

            init?(_ error: any Error) {
                if error.isLockTimeout { self = .lock } else if error.isStatementTimeout { self = .statement } else { return nil }
            }

            var description: String { self == .lock ? "a lock wait" : "a statement timeout" }
        }

        var wait: Wait
        var ids: [UUID]
        var cause: any Error
    }

    /// After a batch waited too long, tries each of its messages alone, each on a connection of
    /// its own, so that what held the batch up holds up only the messages it concerns. Retrying
    /// the whole batch would wait as long again, and with it the rest of the queue.
    ///
    /// - After a lock wait, each message gets a short lock timeout (the lock is known to be
    ///   held), and one that waits again is postponed at once, uncounted: a lock held for long
    ///   outside the services (an operator's `psql` session left open on a ticket type, say) is
    ///   not the message's fault.
    /// - After a statement timeout, a message that runs past it alone too has that recorded as
    ///   a failed delivery (retried with backoff, then dead-lettered), like a handler that
    ///   throws: a message that always makes its handler that slow ends in the dead letters.
    ///   Once ``maxTimeoutsInARow`` messages in a row have done so, the server itself is slow,
    ///   not the messages: the rest stay queued, uncounted, and the loop claims again after
    ///   ``isolatedTimeoutsPause``. That bounds what one batch can cost to that many statement
    ///   timeouts, and the messages it counts, innocent ones too when the server is slow, to
    ///   that many. (An operator's `pg_cancel_backend` of a handler's statement raises the same
    ///   error, and counts the same way.)
    private func isolate(_ timedOut: BatchTimedOut) async {
        var metadata: Logger.Metadata = ["count": "\(timedOut.ids.count)", "error": "\(timedOut.cause.diagnosticDescription)"]
        if timedOut.ids.count == 1, let only = timedOut.ids.first {
            // It was alone already.
            switch timedOut.wait {
            case .lock: await postpone(only, cause: timedOut.cause)
            case .statement:
                logger.warning("a message ran past the statement timeout alone; counting a failed delivery", metadata: metadata)
                await recordFailure(of: only, cause: timedOut.cause)
            }
            return
        }
        switch timedOut.wait {
        case .lock:
            metadata["hint"] = "SELECT pid, pg_blocking_pids(pid), query FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            logger.notice("a batch waited too long for a row lock; trying its messages alone", metadata: metadata)
        case .statement:
            logger.warning("a batch ran past the statement timeout; trying its messages alone", metadata: metadata)
        }
        var timeoutsInARow = 0
        for id in timedOut.ids {
            if stopping { return }
            do {
                let outcome = try await gate.shared {
                    try await client.withConnection { connection in
                        try await handleAlone(id, on: connection, lockTimeout: timedOut.wait == .lock ? Self.isolatedLockTimeout : nil)
                    }
                }
                timeoutsInARow = outcome.isStatementTimeout ? timeoutsInARow + 1 : 0
                if timeoutsInARow == Self.maxTimeoutsInARow {
                    logger.warning("messages in a row ran past the statement timeout alone; leaving the rest of the batch queued", metadata: [
                        "count": "\(timeoutsInARow)",
                    ])
                    try? await Task.sleep(for: Self.isolatedTimeoutsPause)
                    return
                }
            } catch where error.isLockTimeout {
                await postpone(id, cause: error)
            } catch {
                // Anything else: this message and those not tried yet are claimed again as usual.
                logger.warning("consuming failed; backing off", metadata: ["error": "\(error.diagnosticDescription)"])
                return
            }
        }
    }

    /// How long a message tried alone after a lock wait waits for a lock before it is postponed.
    static let isolatedLockTimeout = Duration.seconds(1)

    /// Messages of a batch that may run past the statement timeout alone, one after the other,
    /// before the rest of the batch is left to be claimed again (see ``isolate(_:)``).
    static let maxTimeoutsInARow = 2

    /// The pause before claiming again after that.
    static let isolatedTimeoutsPause = Duration.seconds(5)

    /// Leaves a message that waited past the lock timeout for ``lockWaitPostponement``.
    private func postpone(_ id: UUID, cause: any Error) async {
        do {
            try await store.postpone([id], queue: configuration.queue, by: Self.lockWaitPostponement,
                                     reason: "waited past the lock timeout: \(cause.diagnosticDescription)",
                                     client: client, logger: logger)
            logger.notice("message postponed: a row it needs is locked elsewhere", metadata: [
                "message.id": "\(id)", "retry.in": "\(Self.lockWaitPostponement)",
            ])
        } catch {
            logger.warning("could not postpone a message blocked by a lock", metadata: [
                "message.id": "\(id)", "error": "\(error.diagnosticDescription)",
            ])
        }
    }

    /// Records a failed delivery of message `id` without running its handler again: claims it by
    /// id and puts it back with backoff, or moves it to the dead letters (at once when `cause` is
    /// a ``PermanentFailure``). For a message that ran past the statement timeout alone, or whose
    /// handling was interrupted too often (see ``handleCounted(on:)``).
    private func recordFailure(of id: UUID, cause: any Error) async {
        do {
            let outcome = try await client.withConnection { connection in
                try await watchdog.run(on: connection, "recording message \(id)'s failure") {
                    try await connection.transaction(logger: logger) { connection -> BusMetrics.Outcome? in
                        guard let claimed = try await store.claim(id, consumer: configuration.name, on: connection, logger: logger)
                        else { return nil }
                        // Handled meanwhile under its id: the claim removed this copy.
                        guard claimed.isFirstDelivery else { return .duplicate }
                        return try await recordFailure(claimed, error: cause, on: connection)
                    }
                }
            }
            if let outcome { metrics.count(outcome) }
        } catch {
            logger.warning("could not record the failure of a message", metadata: [
                "message.id": "\(id)", "error": "\(error.diagnosticDescription)",
            ])
        }
    }

    /// Counted handlings. A message whose handling ends its process (a crash, not a thrown
    /// error) or its connection rolls back its own claim, so its failure is never recorded: it
    /// would be claimed again at once, first in the queue, taking its batch down with it every
    /// time. So after the consumer starts, and after a batch ended with its connection, each
    /// claim loop first handles messages one at a time, oldest first, each counted beforehand
    /// in a statement of its own that commits (`bus.messages.interruptions`), until it has
    /// handled ``ConsumerConfiguration/countedHandlings`` of them or finds nothing queued. The
    /// handler's transaction removes the message when it commits; a handling that ends
    /// otherwise in a way this loop sees (a lock timeout, a deadlock) takes its count back. A
    /// message whose handling was interrupted ``ConsumerConfiguration/maxAttempts`` times goes
    /// to the dead letters without being handled again. A crash loop therefore ends after that
    /// many restarts.
    ///
    /// A crash ends every transaction of its process, so for a count to blame the right message
    /// a counted handling runs alone in its process (``HandlingGate``): batches and the other
    /// consumers' counted handlings wait meanwhile. Only the messages handled before the culprit
    /// are handled meanwhile, each once. Across processes, a count stamps its message, and
    /// consumers in other processes leave a message stamped less than
    /// ``ConsumerConfiguration/countingLease`` ago to its counter, which claims it within
    /// milliseconds: otherwise two consumers counting at the same moment (all of them, just
    /// after a PostgreSQL restart) could both count its oldest message, and one interruption of
    /// its handling would count twice. (A counter that stalls between its count and its claim
    /// for longer than the lease, or a gap between a rollback and the take-back of its count,
    /// still lets another consumer count that handling too.) A loop that finds only such
    /// messages left waits for them, so a crash of their counter within the lease is counted
    /// by the next count; nothing waits for another process longer than the lease. A message
    /// whose handler ran past the lease and crashed may go to a consumer that has stopped
    /// counting: one uncounted crash, as for a process that was not counting.
    private func handleCounted(on connection: PostgresConnection) async throws -> CountedHandling {
        try await gate.exclusive { try await countAndHandle(on: connection) }
    }

    enum CountedHandling {
        case handled
        case nothingQueued
        /// Only messages counted less than a lease ago: by a consumer in another process, or by
        /// a handling of this one that ended with its connection.
        case leasedElsewhere
    }

    /// How soon a loop that found only messages leased elsewhere counts again.
    static let leaseRecheck = Duration.milliseconds(50)

    /// Counts a handling of the oldest message queued, then handles it alone, or moves it to the
    /// dead letters when its handlings have been interrupted too often.
    private func countAndHandle(on connection: PostgresConnection) async throws -> CountedHandling {
        let queue = configuration.queue
        let found = try await watchdog.run(on: connection, "counting a handling on \(queue.rawValue)") {
            try await store.countHandling(queue: queue, lease: configuration.countingLease, on: connection, logger: logger)
        }
        let next: (id: UUID, interruptions: Int)
        switch found {
        case .counted(let id, let interruptions): next = (id, interruptions)
        case .leasedElsewhere: return .leasedElsewhere
        case .empty: return .nothingQueued
        }
        let interrupted = next.interruptions - 1
        if interrupted > 0 {
            // Counted before, and neither committed nor taken back since: the handling counted
            // last was interrupted.
            metrics.handlingInterrupted()
            logger.warning("the last handling of a message was interrupted: its process or its connection to PostgreSQL ended before its transaction did", metadata: [
                "message.id": "\(next.id)", "interruptions": "\(interrupted)", "max.attempts": "\(configuration.maxAttempts)",
            ])
        }
        if interrupted >= configuration.maxAttempts {
            await recordFailure(of: next.id, cause: PermanentFailure(
                "its handling was interrupted \(interrupted) times: the consumer's process or its connection to PostgreSQL ended before the handler's transaction did (a crash?)"))
            return .handled
        }
        do {
            // A row it needs that is locked elsewhere is waited for briefly, as in `isolate`:
            // the loop, and the process's other loops, wait with it.
            try await handleAlone(next.id, on: connection, lockTimeout: Self.isolatedLockTimeout)
        } catch where !error.isConnectionFailure {
            do {
                try await store.uncountHandling(next.id, client: client, logger: logger)
            } catch {
                // Left counted: the message's next handling takes this one for an interruption.
                logger.warning("could not take back the count of a handling that was not interrupted", metadata: [
                    "message.id": "\(next.id)", "error": "\(error.diagnosticDescription)",
                ])
            }
            if error.isLockTimeout {
                await postpone(next.id, cause: error)
                return .handled
            }
            throw error
        }
        return .handled
    }

    /// Claims and handles one batch; returns how many messages it claimed, and how many it left
    /// queued because another transaction holds their saga's row. Throws only when the
    /// connection failed or a wait timed out, in which case the claimed messages are back on the
    /// queue. Each transaction runs under the watchdog.
    func consumeBatch(on connection: PostgresConnection) async throws -> (claimed: Int, deferred: Int) {
        try await gate.shared { try await consumeSharingTheGate(on: connection) }
    }

    private func consumeSharingTheGate(on connection: PostgresConnection) async throws -> (claimed: Int, deferred: Int) {
        let queue = configuration.queue
        let batch = try await watchdog.run(on: connection, "a batch of \(queue.rawValue)") {
            try await self.inTransaction(on: connection, careful: false) {
                try await store.claimBatch(for: handler, queue: queue, consumer: configuration.name, limit: configuration.batchSize,
                                           on: connection, logger: logger)
            }
        }
        if case .failed(let error) = batch.outcome {
            // Find the culprit and record its failure: each message of the batch alone, in its
            // own transaction, behind a savepoint.
            logger.debug("batch failed; handling its messages one by one", metadata: [
                "count": "\(batch.count)", "error": "\(error.diagnosticDescription)",
            ])
            for id in batch.firstDeliveries {
                // Closed after a message ran past the statement timeout (see `inTransaction`):
                // the rest are claimed again with the next batch, on a new connection.
                if stopping || connection.isClosed { break }
                try await handleAlone(id, on: connection)
            }
        }
        return (batch.count, batch.deferred)
    }

    /// Claims message `id` by itself and handles it `careful`ly, in a transaction of its own
    /// under the watchdog: behind a savepoint, with its failure recorded. With `lockTimeout`, the
    /// transaction waits at most that long for a lock.
    @discardableResult
    private func handleAlone(_ id: UUID, on connection: PostgresConnection, lockTimeout: Duration? = nil) async throws -> Outcome {
        try await watchdog.run(on: connection, "message \(id) of \(configuration.queue.rawValue) alone") {
            try await self.inTransaction(on: connection, careful: true) {
                if let lockTimeout {
                    try await self.execute("SET LOCAL lock_timeout = '\(lockTimeout.milliseconds)ms'", on: connection)
                }
                return ClaimedBatch(
                    try await store.claim(id, consumer: configuration.name, on: connection, logger: logger).map { [$0] } ?? [],
                    for: handler)
            }.outcome
        }
    }

    private enum Outcome {
        case committed
        case failed(any Error)

        /// The handler ran past the statement timeout (and that was recorded as its failure).
        var isStatementTimeout: Bool {
            if case .failed(let error) = self { error.isStatementTimeout } else { false }
        }
    }

    private struct Claimed {
        var count: Int
        var firstDeliveries: [UUID]
        var outcome: Outcome
        var deferred = 0
    }

    /// One transaction: claim, then handle the messages and publish what the handler returns.
    /// When the handler fails, everything rolls back and the caller handles the messages again
    /// one by one, `careful`ly: then the handler runs behind a savepoint, and when it fails the
    /// transaction rolls back to the savepoint and puts the message back for a later retry, or
    /// moves it to the dead letters. A careful pass that ran past the statement timeout counts
    /// as such a failure; it closes its connection after the commit, as after any timeout (see
    /// ``PostgresConnection/endTransaction(after:logger:)``).
    private func inTransaction(
        on connection: PostgresConnection, careful: Bool, claim: () async throws -> ClaimedBatch
    ) async throws -> Claimed {
        mark(.beginning)
        let started = ContinuousClock.now
        // Set when the careful pass ran past the statement timeout: the connection is closed
        // after the transaction, whatever ends it (see `endTransaction(after:)`).
        var timedOutAlone: (any Error)?
        // BEGIN goes out without waiting for its answer: the claim is queued behind it on this
        // connection and runs inside the transaction (see `beginTransaction`).
        let begun = connection.beginTransaction(logger: logger)
        do {
            mark(.claiming)
            let claimedBatch = try await claim()
            let batch = claimedBatch.messages
            try await begun.get()
            let freshMessages = batch.filter(\.isFirstDelivery)
            let fresh = freshMessages.map(\.envelope)
            var claimed = Claimed(count: batch.count, firstDeliveries: fresh.map(\.messageID), outcome: .committed,
                                  deferred: claimedBatch.deferred)
            if fresh.count < batch.count {
                logger.debug("skipping messages handled before", metadata: ["count": "\(batch.count - fresh.count)"])
            }
            guard !fresh.isEmpty else {
                try await connection.commit(logger: logger)
                metrics.batchCommitted(claimed: batch.count, duplicates: batch.count, handled: 0, duration: .now - started)
                return claimed
            }
            // Only a careful pass records a failure in its transaction; any other batch that
            // fails rolls back entirely, so it needs no savepoint. The savepoint, too, goes out
            // without waiting: the handler's first statement is queued behind it.
            let savepoint = careful && fresh.count == 1 ? connection.send("SAVEPOINT handler", logger: logger) : nil
            var outgoing: [OutgoingMessage] = []
            var onCommit: (@Sendable () -> Void)?
            var failure: BusMetrics.Outcome?
            do {
                mark(.handling(fresh.count))
                let handled = try await claimedBatch.handle(fresh, connection, logger)
                outgoing = handled.messages
                onCommit = handled.onCommit
                mark(.publishing(outgoing.count))
                try await MessagePublisher.publish(outgoing, with: handled.finalWrites, notifyAtCommit: wakeups.notifiesAtCommit,
                                                   on: connection, logger: logger)
                try await savepoint?.get()
            } catch {
                // A lost connection, or a wait that timed out: the work is fine and is simply
                // tried again after the caller's backoff (the rollback puts the messages back).
                // A batch that waited past the lock or the statement timeout is tried again one
                // message at a time instead (see `isolate`): it may wait as long again.
                if !careful, let wait = BatchTimedOut.Wait(error) {
                    throw BatchTimedOut(wait: wait, ids: claimed.firstDeliveries, cause: error)
                }
                // A message that ran past the statement timeout alone: its failure.
                if careful, savepoint != nil, error.isStatementTimeout { timedOutAlone = error }
                if error.isConnectionFailure || (error.isTransientConflict && timedOutAlone == nil) { throw error }
                claimed.outcome = .failed(error)
                outgoing = []
                onCommit = nil
                guard let savepoint else {
                    try await execute("ROLLBACK", on: connection)
                    return claimed
                }
                try await savepoint.get()
                try await execute("ROLLBACK TO SAVEPOINT handler", on: connection)
                failure = try await recordFailure(freshMessages[0], error: error, on: connection)
            }
            mark(.committing)
            try await connection.commit(logger: logger)
            mark(.committed)
            metrics.batchCommitted(claimed: batch.count, duplicates: batch.count - fresh.count,
                                   handled: failure == nil ? fresh.count : 0, duration: .now - started)
            metrics.delivered(delays: batch.lazy.filter(\.isFirstDelivery).map(\.waited))
            if let failure { metrics.count(failure) }
            metrics.published.count(outgoing)
            onCommit?()
            if let timedOutAlone { await connection.closeAfterTransientConflict(timedOutAlone, logger: logger) }
            wakeups.committed(outgoing)
            return claimed
        } catch {
            let cause = (error as? BatchTimedOut)?.cause ?? error
            mark(.endingTransaction(after: cause.diagnosticDescription))
            await connection.endTransaction(after: error.isConnectionFailure ? error : timedOutAlone ?? cause, logger: logger)
            throw error
        }
    }

    /// Puts a failed message back with backoff, or moves it to the dead letters; says which.
    private func recordFailure(_ claimed: ClaimedMessage, error: any Error, on connection: PostgresConnection) async throws -> BusMetrics.Outcome {
        let envelope = claimed.envelope
        var logger = self.logger
        logger[metadataKey: "message.id"] = "\(envelope.messageID)"
        logger[metadataKey: "message.type"] = "\(envelope.typeName)"
        logger[metadataKey: "saga.id"] = "\(envelope.sagaID)"
        logger[metadataKey: "message.attempt"] = "\(envelope.attempt)"
        let cause = error.unwrappingTransaction
        let reason = cause.diagnosticDescription
        if cause is PermanentFailure || cause is MessageDecodingError || envelope.attempt >= configuration.maxAttempts {
            logger.error("moving message to the dead letters", metadata: ["error": "\(reason)"])
            try await store.deadLetter(claimed, queue: configuration.queue, consumer: configuration.name, error: reason,
                                       on: connection, logger: logger)
            return .deadLettered
        }
        let delay = Backoff.delay(attempt: envelope.attempt, base: configuration.retryBase, maximum: configuration.retryMaximum)
        logger.notice("handler failed; will retry", metadata: ["error": "\(reason)", "retry.in": "\(delay)"])
        try await store.requeue(claimed, queue: configuration.queue, consumer: configuration.name, after: delay, error: reason,
                                on: connection, logger: logger)
        return .retried
    }

    /// Records what the current claim loop is doing.
    private func mark(_ state: LoopActivity.State) {
        if let index = ClaimLoop.index { activity.set(index, state) }
    }

    private func execute(_ sql: String, on connection: PostgresConnection) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
    }
}

/// Logs a claim loop's batches that left messages queued because another transaction holds
/// their sagas' rows.
///
/// Usually the holder is another claim loop in the middle of a transition of the same saga: the
/// two replies of a saga's stage arrive together, and with two orchestrators each may claim
/// one; that holder ends within milliseconds. A row held for long (an operator's open `psql`
/// session, say) keeps its message queued in every batch, as it stays among the oldest: only a
/// streak of 10 s of such batches is logged as a notice (at most every 10 s); the rest are
/// logged at debug level.
struct DeferralLog {
    private var streakStart: ContinuousClock.Instant?
    private var lastLog: ContinuousClock.Instant?
    private var since = 0

    /// Records a batch that left `count` messages queued (0 ends the streak).
    mutating func note(_ count: Int, now: ContinuousClock.Instant = .now, logger: Logger) {
        guard count > 0 else {
            streakStart = nil
            return
        }
        since += count
        let start = streakStart ?? now
        streakStart = start
        if let lastLog, now - lastLog < .seconds(10) { return }
        let metadata: Logger.Metadata = ["deferred": "\(since)", "for": "\((now - start).milliseconds) ms"]
        if now - start >= .seconds(10) {
            logger.notice("messages left queued in every batch: another transaction holds their sagas' rows", metadata: metadata.merging([
                "hint": "SELECT pid, state, xact_start, query FROM pg_stat_activity WHERE xact_start < now() - interval '10 seconds'",
            ]) { $1 })
        } else {
            logger.debug("messages left queued: another transaction holds their sagas' rows", metadata: metadata)
        }
        lastLog = now
        since = 0
    }
}

/// The claim loop a task belongs to.
private enum ClaimLoop {
    @TaskLocal static var index: Int?
}

/// What each claim loop of a consumer is doing, and since when: written at every step of every
/// batch, read only when a shutdown drain times out. A state is a value, not a text, and each
/// loop has its own slot, so a step costs a lock and two stores (no dictionary, no string built).
private final class LoopActivity: Sendable {
    enum State: Sendable, CustomStringConvertible {
        case waitingForConnection, leasedConnection, handlingCounted, waitingForCountedElsewhere
        case beginning, claiming, handling(Int), publishing(Int), committing, committed
        case endingTransaction(after: String)
        case betweenBatches, waitingForWork, isolating(after: BusConsumer.BatchTimedOut.Wait), backingOff, stopped
        /// Not started yet.
        case starting

        var description: String {
            switch self {
            case .starting: "starting"
            case .waitingForConnection: "waiting for a connection"
            case .leasedConnection: "leased a connection"
            case .handlingCounted: "handling a counted message"
            case .waitingForCountedElsewhere: "waiting for another process's counted handlings"
            case .beginning: "BEGIN"
            case .claiming: "claiming"
            case .handling(let count): "handling \(count)"
            case .publishing(let count): "publishing \(count)"
            case .committing: "COMMIT"
            case .committed: "committed"
            case .endingTransaction(let cause): "ending the transaction after \(cause)"
            case .betweenBatches: "between batches"
            case .waitingForWork: "waiting for work"
            case .isolating(let wait): "trying messages alone after \(wait)"
            case .backingOff: "backing off"
            case .stopped: "stopped"
            }
        }
    }

    private let states: Mutex<[(state: State, since: ContinuousClock.Instant)]>

    init(loops: Int) {
        states = Mutex(Array(repeating: (.starting, .now), count: loops))
    }

    func set(_ loop: Int, _ state: State) {
        let now = ContinuousClock.now
        states.withLock { states in
            guard states.indices.contains(loop) else { return }
            states[loop] = (state, now)
        }
    }

    /// Each loop's state and how long it has been in it, in the loops' order.
    func describe() -> String {
        let now = ContinuousClock.now
        return states.withLock { states in
            states.enumerated().map { loop, entry in "loop \(loop): \(entry.state) for \(now - entry.since)" }
        }.joined(separator: "; ")
    }
}
