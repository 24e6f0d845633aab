import Database
import EvenTicketContracts
import Foundation
import Logging
import Metrics
import MessageBus
import NIOCore
import Orchestrator
import Ordering
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Places orders in batches: the requests that arrive while a batch is being written share the
/// next one, so one commit (one WAL flush) accepts many orders.
///
/// A batch stores the orders, creates their sagas and publishes the sagas' first commands in
/// one statement (``PlaceOrders``: one round trip, one transaction); each request is answered
/// only after that commit. If a batch fails, its orders are placed one by one, so that one bad
/// request fails alone. Nothing waits on purpose: a lone request is written at once, and
/// batches grow only with concurrency.
///
/// One writer by default: a second one took each batch as soon as the first was busy, so at
/// 1,000 orders/s the statements held 2.7 orders on average, and their fixed cost (about
/// 0.26 ms of PostgreSQL's time each, and the round trip) was paid twice as often. Measured
/// with one writer, 3 alternating pairs at 1,000 orders/s: p50 396/625/463 -> 287/399/319 ms,
/// p99 1128/1882/917 -> 773/1019/739 ms, serve's CPU per order down 4-12%.
final class OrderIntake: Service, Sendable {
    /// An order to place and the saga to start for it.
    struct Placement: Sendable {
        var order: OrderStore.NewOrder
        var paymentToken: String
    }

    private struct Pending {
        var placement: Placement
        var continuation: CheckedContinuation<OrderStore.Placement, any Error>
    }

    /// A writer waiting for requests: resumed with true when one arrives (or the writers stop),
    /// with false when its idle limit passes first.
    private struct Waiter {
        var continuation: CheckedContinuation<Bool, Never>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var queue: [Pending] = []
        var waiters: [Int: Waiter] = [:]
        var lastWaiter = 0
        /// Every writer has returned: nothing would answer a request queued now.
        var stopped = false

        /// Takes the writer that has waited longest.
        mutating func takeFirstWaiter() -> Waiter? {
            waiters.keys.min().flatMap { waiters.removeValue(forKey: $0) }
        }
    }

    /// What a writer gets when it asks for work.
    private enum Work {
        case batch([Pending])
        /// Nothing came within the idle limit.
        case idle
        case stopped
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let engine: SagaEngine
    private let wakeups: Wakeups?
    private let orders = OrderStore()
    private let maximumBatch: Int
    private let writers: Int
    private let idleLimit: Duration
    /// How long a writer with requests waits for a connection before it fails them (503).
    private let connectionWait: Duration?
    /// Bounds each batch's statement and each replay's lookup on the writer's connection.
    private let watchdog: ConnectionWatchdog
    private let logger: Logger
    private let metrics = IntakeMetrics()

    /// `idleLimit`: how long a writer keeps its connection without a request; then it gives it
    /// back to the pool, whose keep-alive checks the connections it holds.
    init(client: PostgresClient, engine: SagaEngine, wakeups: Wakeups?, maximumBatch: Int = 200, writers: Int = 1,
         idleLimit: Duration = .seconds(10), connectionWait: Duration? = nil, logger: Logger) {
        self.client = client
        self.engine = engine
        self.wakeups = wakeups
        self.maximumBatch = maximumBatch
        self.writers = writers
        self.idleLimit = idleLimit
        self.connectionWait = connectionWait
        self.watchdog = .requests(logger: logger)
        self.logger = logger
    }

    /// Places one order; returns once it is committed (or found under its idempotency key).
    func place(_ placement: Placement) async throws -> OrderStore.Placement {
        try await withCheckedThrowingContinuation { continuation in
            let (waiter, stopped) = state.withLock { state -> (Waiter?, Bool) in
                if state.stopped { return (nil, true) }
                state.queue.append(Pending(placement: placement, continuation: continuation))
                return (state.takeFirstWaiter(), false)
            }
            if stopped {
                continuation.resume(throwing: Self.stoppedError)
                return
            }
            waiter?.timer?.cancel()
            waiter?.continuation.resume(returning: true)
        }
    }

    /// What a request gets once the writers have stopped: nothing of it was stored.
    static let stoppedError = ServiceUnavailable(detail: "The server is stopping; try again shortly.")

    /// Runs the writers until shutdown. The HTTP server stops first, so the requests it still
    /// serves are written before this returns. Once every writer has returned (a cancellation
    /// does not wait for the HTTP server), a request still queued, or placed later, is
    /// answered 503 without being written.
    func run() async throws {
        await withDiscardingTaskGroup { group in
            for _ in 0..<writers {
                group.addTask { await self.writeLoop() }
            }
        }
        let stranded = state.withLock { state -> [Pending] in
            state.stopped = true
            defer { state.queue.removeAll() }
            return state.queue
        }
        stranded.forEach { $0.continuation.resume(throwing: Self.stoppedError) }
    }

    /// Writes batch after batch on one leased connection, kept while requests keep coming (a
    /// lease and return per batch armed and cancelled the pool's idle and keep-alive timers each
    /// time, as it did for the consumers' claim loops). It goes back to the pool when the server
    /// has ended it, and after ``idleLimit`` without a request: the pool's keep-alive checks
    /// only the connections it holds, and a connection lost without a word would otherwise
    /// leave the next order waiting for the watchdog.
    private func writeLoop() async {
        var failures = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        // A batch taken while the kept connection was being ended, for the next one.
        var carried: [Pending]?
        while true {
            // Without a connection, wait for a request before leasing one.
            if carried == nil {
                switch await nextWork(idleOn: nil) {
                case .stopped: return
                case .idle: continue
                case .batch(let batch): carried = batch
                }
            }
            do {
                let first = carried
                let end = try await client.withConnection(waitingAtMost: connectionWait) { connection in
                    await self.writeBatches(startingWith: first, on: connection)
                }
                failures.reset()
                switch end {
                case .stopped: return
                case .idle: carried = nil
                case .connectionEnded(let batch): carried = batch
                }
            } catch {
                // No connection could be leased (none came within the wait allowed, the pool is
                // shutting down, or the lease was cancelled): the requests waiting now fail with
                // that error, as those of a batch whose connection fails do.
                carried?.forEach { $0.continuation.resume(throwing: error) }
                carried = nil
                while let batch = takeBatch() { batch.forEach { $0.continuation.resume(throwing: error) } }
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                // A wait that ran out has spent its time already; a lease that failed at once
                // (the pool's circuit breaker) is tried again after a pause.
                if error is ConnectionWaitTimedOut {
                    logger.warning("no connection for the order intake", metadata: ["error": "\(error.diagnosticDescription)"])
                    continue
                }
                logger.warning("no connection for the order intake; backing off", metadata: ["error": "\(error.diagnosticDescription)"])
                try? await Task.sleep(for: failures.next())
            }
        }
    }

    /// Why a writer gave its connection back.
    private enum WriterEnd: Sendable {
        case stopped
        /// No request came within ``idleLimit``.
        case idle
        /// The server ended the connection while the writer waited for requests; the batch
        /// taken meanwhile goes to the next connection.
        case connectionEnded(carrying: [Pending])
    }

    /// Writes `first`, then batch after batch as requests come, on `connection`.
    private func writeBatches(startingWith first: [Pending]?, on connection: PostgresConnection) async -> WriterEnd {
        var carried = first
        while true {
            let batch: [Pending]
            if let carried {
                batch = carried
            } else {
                switch await nextWork(idleOn: connection.eventLoop) {
                case .stopped: return .stopped
                case .idle: return .idle
                case .batch(let next): batch = next
                }
            }
            // A connection the server ended while this waited for requests goes back to the
            // pool (which drops it), and the batch to the next: postgres-nio would leave a
            // statement on it unanswered until the watchdog.
            guard !connection.isClosed else { return .connectionEnded(carrying: batch) }
            carried = nil
            await write(batch, on: connection)
        }
    }

    /// Takes up to a batch of queued requests, if any.
    private func takeBatch() -> [Pending]? {
        let batch = state.withLock { state -> [Pending] in
            let count = min(state.queue.count, maximumBatch)
            defer { state.queue.removeFirst(count) }
            return Array(state.queue.prefix(count))
        }
        return batch.isEmpty ? nil : batch
    }

    /// Waits for queued requests and takes up to a batch of them. Stopped at once when cancelled
    /// (what is queued is then answered by ``run()``, unwritten: a statement sent now could
    /// commit and still fail here), and once shut down gracefully with nothing queued; idle when
    /// `idleOn` is given and ``idleLimit`` passes first (its timer runs on that event loop).
    private func nextWork(idleOn eventLoop: (any EventLoop)?) async -> Work {
        while true {
            if Task.isCancelled { return .stopped }
            if let batch = takeBatch() { return .batch(batch) }
            if Task.isShuttingDownGracefully { return .stopped }
            let woken = await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                        let id = state.withLock { state -> Int? in
                            if !state.queue.isEmpty || Task.isCancelled || Task.isShuttingDownGracefully { return nil }
                            state.lastWaiter += 1
                            state.waiters[state.lastWaiter] = Waiter(continuation: continuation)
                            return state.lastWaiter
                        }
                        guard let id else {
                            continuation.resume(returning: true)
                            return
                        }
                        guard let eventLoop else { return }
                        let timer = eventLoop.scheduleTask(in: TimeAmount(idleLimit)) { [self] in
                            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                            waiter?.continuation.resume(returning: false)
                        }
                        // A request may have ended the wait before the timer was set: then cancel it.
                        let armed = state.withLock { state -> Bool in
                            guard state.waiters[id] != nil else { return false }
                            state.waiters[id]?.timer = timer
                            return true
                        }
                        if !armed { timer.cancel() }
                    }
                } onCancel: {
                    self.wakeAllWaiters()
                }
            } onGracefulShutdown: {
                self.wakeAllWaiters()
            }
            if !woken { return .idle }
        }
    }

    private func wakeAllWaiters() {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: true)
        }
    }

    /// Writes a batch, then answers its requests. Only the server's refusal of the writing
    /// statement (which then stored nothing) places the batch's orders again, one by one; once
    /// it has committed, a request can fail only alone, in the lookup of the order its
    /// idempotency key names (which stores nothing, and may be retried).
    private func write(_ batch: [Pending], on connection: PostgresConnection) async {
        let created: [Order?]
        do {
            created = try await insert(batch.map(\.placement), on: connection)
        } catch {
            // Any other failure (the connection, the watchdog, the task's cancellation, a row
            // that did not decode) may have come after the commit: placing the orders again
            // would store each a second time, with a saga of its own. Their outcome is unknown,
            // and so is the answer (a client retries with its `Idempotency-Key`).
            guard batch.count > 1, error.sqlState != nil, !error.isConnectionFailure, !Task.isCancelled else {
                batch.forEach { $0.continuation.resume(throwing: error) }
                return
            }
            logger.notice("an order batch failed; placing its orders one by one", metadata: ["error": "\(error.diagnosticDescription)"])
            for pending in batch {
                do {
                    let order: Order?
                    if connection.isClosed {
                        // The batch's failure closed the connection (a lock timeout, say): each
                        // order goes on a connection of its own, and the writer's next batch on
                        // a new one.
                        order = try await client.withConnection(waitingAtMost: connectionWait) {
                            try await self.insert([pending.placement], on: $0)[0]
                        }
                    } else {
                        order = try await insert([pending.placement], on: connection)[0]
                    }
                    await answer([pending], created: [order], on: connection)
                } catch {
                    pending.continuation.resume(throwing: error)
                }
            }
            return
        }
        await answer(batch, created: created, on: connection)
    }

    /// Answers each request with the order it created, or else with the one its idempotency key
    /// names (looked up after every created order is answered).
    private func answer(_ batch: [Pending], created: [Order?], on connection: PostgresConnection) async {
        var replays: [Pending] = []
        for (pending, order) in zip(batch, created) {
            if let order {
                pending.continuation.resume(returning: .created(order))
            } else {
                replays.append(pending)
            }
        }
        for pending in replays {
            do {
                pending.continuation.resume(returning: try await existing(pending.placement.order, on: connection))
            } catch {
                pending.continuation.resume(throwing: error)
            }
        }
    }

    /// The order an idempotency key names, under the watchdog; on a connection of its own if
    /// `connection` was closed (by a lookup before that hit a lock timeout, say).
    private func existing(_ order: OrderStore.NewOrder, on connection: PostgresConnection) async throws -> OrderStore.Placement {
        let (logger, orders, watchdog) = (self.logger, self.orders, self.watchdog)
        let lookUp = { @Sendable (connection: PostgresConnection) async throws -> OrderStore.Placement in
            try await watchdog.run(on: connection, "an idempotency key's order") {
                do {
                    return try await orders.existing(order, on: connection, logger: logger)
                } catch {
                    await connection.closeAfterTransientConflict(error, logger: logger)
                    throw error
                }
            }
        }
        if connection.isClosed { return try await client.withConnection(waitingAtMost: connectionWait, lookUp) }
        return try await lookUp(connection)
    }

    /// Stores `placements` in one statement (see ``PlaceOrders``) and wakes the consumers of
    /// their first commands; returns the order each one created, nil where an order under its
    /// idempotency key existed already. Throws only when nothing was stored.
    private func insert(_ placements: [Placement], on connection: PostgresConnection) async throws -> [Order?] {
        let insert = OrderInsert(placements.map(\.order))
        let plan = engine.plan(placements.indices.map { index in
            let new = placements[index].order
            return SagaEngine.Start(
                order: OrderPlaced(
                    orderID: insert.orderIDs[index], customerID: new.customerID, eventID: new.eventID,
                    lines: new.lines.map { OrderLine(ticketTypeID: $0.ticketTypeId, quantity: $0.quantity) },
                    totalCents: new.totalCents, currency: new.currency, paymentToken: placements[index].paymentToken),
                sagaID: insert.sagaIDs[index])
        })
        let notifyAtCommit = wakeups?.notifiesAtCommit ?? true
        let messages = MessageInsert(plan.allMessages, notifyAtCommit: notifyAtCommit)
        let statement = PlaceOrders(orders: insert, sagas: SagaStartInsert(plan), messages: messages)
        let logger = self.logger
        let stored = try await watchdog.run(on: connection, "an order batch") {
            do {
                var stored: [UUID: Date] = [:]
                let rows = try await connection.execute(statement, logger: logger)
                // The statement's rows end before its transaction commits (postgres-nio ends
                // them at CommandComplete; the implicit commit follows at Sync), so reading
                // them does not say the orders are stored: a backend ended (or a server that
                // crashed) before the commit record rolls them back, and a commit that queues
                // notifications (while the notifier has no connection of its own) can still
                // fail, waiting for the notification queue's lock past the lock timeout or on
                // a full queue. The next statement on the connection goes out only after the
                // commit's outcome and fails if it failed, so the orders are answered as placed
                // only once it succeeds: one round trip per batch, not per order. Queued now,
                // it goes out as soon as that outcome is in, without waiting for this task.
                let committed = connection.send("SELECT 1", logger: logger)
                for try await (id, createdAt) in rows { stored[id] = createdAt }
                // Its failure leaves the commit's outcome unknown (a cancelled `SELECT 1` may
                // follow a commit that went through): such a batch is not placed again.
                do { try await committed.get() } catch { throw CommitOutcomeUnknown(cause: error) }
                return stored
            } catch {
                await connection.closeAfterTransientConflict(error, logger: logger)
                throw error
            }
        }
        let created = insert.orders(stored: stored)
        metrics.written(batch: placements.count, created: stored.count)
        let published = plan.messages(of: created.compactMap { $0?.sagaId })
        metrics.published.count(published)
        wakeups?.committed(published)
        return created
    }
}

/// What the intake reports through swift-metrics.
struct IntakeMetrics: Sendable {
    /// Orders stored, each with its saga: a replayed `Idempotency-Key` stores none.
    let placed = Counter(label: "eventicket_orders_placed_total")
    /// Orders per statement (each its own commit).
    let batchOrders = Recorder(label: "eventicket_intake_batch_orders", aggregate: true)
    /// The sagas' first commands.
    let published = PublishedMetrics()

    func written(batch: Int, created: Int) {
        batchOrders.record(batch)
        if created > 0 { placed.increment(by: created) }
    }
}
