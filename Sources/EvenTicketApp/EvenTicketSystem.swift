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

/// Builds the services of one process: the bus listener, a consumer per role, and the HTTP API.
public enum EvenTicketSystem {
    /// The long-running services for `roles`, in start order. With `http` false the `api` role
    /// runs its consumer but no server (tests drive the router directly).
    public static func services(
        roles: Set<Role>,
        configuration: SystemConfiguration,
        client: PostgresClient,
        logger: Logger,
        http: Bool = true,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        let wakeups = Wakeups()
        var services: [any Service] = [BusListener(client: client, wakeups: wakeups, logger: logger)]
        func consumer(_ queue: Queue, _ handler: any MessageHandler) -> BusConsumer {
            BusConsumer(
                configuration: ConsumerConfiguration(
                    queue: queue, lease: configuration.lease, maxAttempts: configuration.maxAttempts,
                    retryBase: configuration.retryBase, concurrency: configuration.consumerConcurrency),
                client: client, wakeups: wakeups, handler: handler, logger: logger)
        }
        let engine = configuration.sagaEngine
        for role in Role.allCases where roles.contains(role) {
            switch role {
            case .api:
                services.append(consumer(.ordering, OrderingHandler()))
            case .orchestrator:
                services.append(consumer(.orchestrator, OrchestratorHandler(engine: engine)))
            case .inventory:
                services.append(consumer(.inventory, InventoryHandler()))
            case .invoicing:
                services.append(consumer(.invoicing, InvoicingHandler()))
            case .payment:
                services.append(consumer(.payment, PaymentHandler(configuration: configuration.payment)))
            }
        }
        if roles.contains(.api), http {
            services.append(buildApplication(
                configuration: configuration.api, client: client, engine: engine, logger: logger,
                onServerRunning: onServerRunning))
        }
        return services
    }

    /// Runs `body` with a connection pool to `url`, after checking that the server answers and,
    /// when `migrate` is set, applying pending migrations. The pool is shut down afterwards.
    public static func withDatabase<T: Sendable>(
        _ url: DatabaseURL,
        logger: Logger,
        migrate: Bool,
        maximumConnections: Int = 20,
        reachTimeout: Duration = .seconds(15),
        _ body: @Sendable @escaping (PostgresClient) async throws -> T
    ) async throws -> T {
        // The pool logs every failed connection attempt; keep that below the operator's level
        // unless they asked for debugging.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        if logger.logLevel <= .debug { poolLogger.logLevel = logger.logLevel }
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: poolLogger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            let deadline = ContinuousClock.now + reachTimeout
            try await waitUntilReachable(client, url: url, logger: logger, timeout: reachTimeout)
            if migrate {
                try await migrateRetryingConnectionFailures(client, until: deadline, logger: logger)
            }
            return try await body(client)
        }
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

    /// Fails with a clear message when the server does not answer within `timeout`.
    static func waitUntilReachable(_ client: PostgresClient, url: DatabaseURL, logger: Logger, timeout: Duration = .seconds(15)) async throws {
        let reached = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                while true {
                    do {
                        _ = try await client.query("SELECT 1", logger: logger).collect()
                        return true
                    } catch {
                        if error.sqlState != nil { throw DatabaseUnreachable(url: url, reason: error.diagnosticDescription) }
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
        guard reached else { throw DatabaseUnreachable(url: url, reason: "no answer within \(timeout)") }
    }
}

/// PostgreSQL could not be reached.
public struct DatabaseUnreachable: Error, CustomStringConvertible {
    public var url: DatabaseURL
    public var reason: String
    public var description: String { "cannot reach PostgreSQL at \(url): \(reason)" }
}
