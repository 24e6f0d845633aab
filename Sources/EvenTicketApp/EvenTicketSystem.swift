import Database
import EvenTicketContracts
import HTTPAPI
import Inventory
import Invoicing
import Logging
import MessageBus
import Orchestrator
import Ordering
import Payment
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Builds the services of one process: the bus notifier and listener, a consumer per role, and
/// the HTTP API.
public enum EvenTicketSystem {
    /// The long-running services for `roles`, in start order. With `http` false the `api` role
    /// runs its consumer but no server (tests drive the router directly).
    /// Each role gets a pool of its own that acts as the role's PostgreSQL role; `client` (the
    /// login user) keeps the LISTEN connection and the notifier's.
    public static func services(
        roles: Set<Role>,
        configuration: SystemConfiguration,
        url: DatabaseURL,
        client: PostgresClient,
        logger: Logger,
        http: Bool = true,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        let loginClient = client
        // First, so that it stops last: after the consumers whose commits it reports.
        let notifier = BusNotifier(client: client, logger: logger)
        let wakeups = Wakeups(notifier: notifier)
        let gate = HandlingGate()
        let consumed = Role.allCases.filter(roles.contains).compactMap(\.queue)
        var services: [any Service] = [notifier]
        if !consumed.isEmpty {
            services.append(BusListener(client: client, queues: consumed.map(\.rawValue), wakeups: wakeups, logger: logger))
            if let interval = configuration.queueSampling {
                // As the login user: the services' roles may not read every queue's dead letters.
                services.append(QueueGauges(client: client, queues: consumed, interval: interval, logger: logger))
            }
        }
        func pool(for role: Role, extraConnections: Int) -> PostgresClient {
            guard configuration.serviceRoles else { return client }
            let pool = PostgresClient(
                configuration: url.clientConfiguration(
                    maximumConnections: configuration.consumerConcurrency + extraConnections, role: role.databaseRole,
                    idleInTransactionTimeout: configuration.lease, settings: servicePoolSettings),
                backgroundLogger: poolLogger(logger))
            services.append(pool)
            return pool
        }
        func consumer(_ queue: Queue, _ handler: any MessageHandler, client: PostgresClient) -> BusConsumer {
            BusConsumer(
                configuration: ConsumerConfiguration(
                    queue: queue, batchSize: configuration.batchSize, maxAttempts: configuration.maxAttempts,
                    retryBase: configuration.retryBase, concurrency: configuration.consumerConcurrency),
                client: client, wakeups: wakeups, gate: gate, handler: handler, logger: logger)
        }
        let engine = configuration.sagaEngine
        for role in Role.allCases where roles.contains(role) {
            switch role {
            case .api:
                let client = pool(for: role, extraConnections: 20)
                if http {
                    services.append(buildApplication(
                        configuration: configuration.api, client: client, engine: engine, wakeups: wakeups, logger: logger,
                        onServerRunning: onServerRunning))
                }
            case .ordering:
                services.append(consumer(.ordering, OrderingHandler(), client: pool(for: role, extraConnections: 1)))
            case .orchestrator:
                let client = pool(for: role, extraConnections: 3)
                services.append(consumer(.orchestrator, OrchestratorHandler(engine: engine), client: client))
                services.append(DeadlineSweeper(client: client, engine: engine, wakeups: wakeups, logger: logger))
                services.append(LedgerPruner(client: client, retention: configuration.ledgerRetention, logger: logger))
                // As the login user, who owns the tables.
                services.append(TableVacuum(client: loginClient, tables: ["bus.messages", "orchestrator.deadlines"], logger: logger))
            case .inventory:
                services.append(consumer(.inventory, InventoryHandler(), client: pool(for: role, extraConnections: 1)))
            case .invoicing:
                services.append(consumer(.invoicing, InvoicingHandler(), client: pool(for: role, extraConnections: 1)))
            case .payment:
                services.append(consumer(.payment, PaymentHandler(configuration: configuration.payment), client: pool(for: role, extraConnections: 1)))
            }
        }
        return services
    }

    /// Settings of the services' own connections.
    ///
    /// - Every statement a service runs finds its rows by key (or by a deadline or queue index).
    ///   A prepared statement's generic plan is made after a few runs and kept for the life of
    ///   the connection; made while a table was still empty (a fresh deployment), it would scan
    ///   the whole table on every run until the next ANALYZE. Sequential scans are therefore
    ///   priced out; they still happen where no index applies.
    /// - Every prepared statement runs its generic plan. Most take arrays of keys; with the
    ///   default (`auto`), PostgreSQL kept choosing a custom plan for several of them and so
    ///   planned them again on every run (measured at 1,000 orders/s: as many plans as runs for
    ///   inventory's and invoicing's statements, 0.1-0.25 ms each).
    /// - No wait is unbounded: a lock not granted within 5 s, or a statement running 30 s, fails
    ///   the batch, which rolls back and is retried. A task that is cancelled does not stop its
    ///   statement on the server, so this is also what bounds a graceful shutdown.
    public static let servicePoolSettings: [(name: String, value: String)] = [
        ("enable_seqscan", "off"), ("plan_cache_mode", "force_generic_plan"), ("lock_timeout", "5s"),
        ("statement_timeout", "30s"),
    ]

    /// Runs `body` with a connection pool to `url`, after checking that the server answers and,
    /// when `migrate` is set, applying pending migrations. The pool is shut down afterwards.
    /// `settings` are server settings for the pool's connections (program constants only).
    public static func withDatabase<T: Sendable>(
        _ url: DatabaseURL,
        logger: Logger,
        migrate: Bool,
        maximumConnections: Int = 20,
        reachTimeout: Duration = .seconds(15),
        settings: [(name: String, value: String)] = [],
        _ body: @Sendable @escaping (PostgresClient) async throws -> T
    ) async throws -> T {
        if !url.ignoredParameters.isEmpty {
            logger.warning("DATABASE_URL parameters not applied by this program", metadata: [
                "parameters": "\(url.ignoredParameters.joined(separator: ", "))"])
        }
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: maximumConnections, settings: settings), backgroundLogger: poolLogger(logger))
        return try await client.running(logger: logger) {
            let deadline = ContinuousClock.now + reachTimeout
            try await waitUntilReachable(client, url: url, logger: logger, timeout: reachTimeout)
            if migrate {
                try await migrateRetryingConnectionFailures(client, until: deadline, logger: logger)
            }
            return try await body(client)
        }
    }

    /// The pool logs every failed connection attempt; keep that below the operator's level
    /// unless they asked for debugging.
    static func poolLogger(_ logger: Logger) -> Logger {
        var poolLogger = logger
        poolLogger.logLevel = logger.logLevel <= .debug ? logger.logLevel : max(logger.logLevel, .warning)
        return poolLogger
    }

    /// Applies migrations; a lost connection (the server restarting, a terminated backend) is
    /// retried with backoff until `deadline`, anything else fails at once.
    static func migrateRetryingConnectionFailures(_ client: PostgresClient, until deadline: ContinuousClock.Instant, logger: Logger) async throws {
        var backoff = Backoff(base: .milliseconds(100), maximum: .seconds(5))
        while true {
            do {
                try await Migrator().migrate(on: client, logger: logger)
                return
            } catch let error as MigrationError where error.isConnectionFailure && ContinuousClock.now < deadline {
                logger.warning("migrations interrupted by a lost connection; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Fails with a clear message when the server does not answer within `timeout`, and at
    /// once, with the server's own words, when it answers with an error that will not fix itself
    /// (a wrong password, a missing database or role). Each attempt is one direct connection:
    /// the pool would retry such a failure quietly until the timeout. While the server cannot be
    /// reached (not started yet, restarting) it says so every few seconds.
    static func waitUntilReachable(_ client: PostgresClient, url: DatabaseURL, logger: Logger, timeout: Duration = .seconds(15)) async throws {
        let lastError = LastError()
        let reached = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                var told = ContinuousClock.now
                while true {
                    do {
                        let connection = try await PostgresConnection.connect(
                            configuration: try url.connectionConfiguration(), id: 0, logger: poolLogger(logger))
                        try? await connection.close()
                        _ = try await client.query("SELECT 1", logger: logger).collect()
                        return true
                    } catch {
                        try Task.checkCancellation() // the timeout: the last attempt's error stands
                        // Too many connections or a lost race may pass; the rest is for good.
                        if error.sqlState != nil, !error.isDatabaseUnavailable {
                            throw DatabaseUnreachable(url: url, reason: error.diagnosticDescription)
                        }
                        if let psql = error as? PSQLError, psql.code == .sslUnsupported {
                            throw DatabaseUnreachable(
                                url: url, reason: "the server does not accept TLS connections, which sslmode=\(url.sslMode.rawValue) requires")
                        }
                        lastError.set(error.diagnosticDescription)
                        if ContinuousClock.now - told >= .seconds(5) {
                            told = .now
                            logger.notice("waiting for PostgreSQL", metadata: ["database": "\(url)", "error": "\(error.diagnosticDescription)"])
                        }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard reached else {
            let last = lastError.get().map { "; the last attempt: \($0)" } ?? ""
            throw DatabaseUnreachable(url: url, reason: "no answer within \(timeout)\(last)")
        }
    }

    /// The last failed attempt's description, shared with the task that times out.
    private final class LastError: Sendable {
        private let value = Mutex<String?>(nil)
        func set(_ description: String) { value.withLock { $0 = description } }
        func get() -> String? { value.withLock { $0 } }
    }
}

/// PostgreSQL could not be reached, or refused the connection (a missing database, a wrong
/// user or password, no TLS where the URL requires it).
public struct DatabaseUnreachable: Error, CustomStringConvertible {
    public var url: DatabaseURL
    public var reason: String
    public var description: String { "cannot use PostgreSQL at \(url): \(reason)" }
}
