import Database
import EvenTicketApp
import Logging
import PostgresNIO
import ServiceLifecycle

/// Runs the services of `roles` until SIGTERM or SIGINT, then shuts them down gracefully:
/// the HTTP server stops accepting, consumers finish the message in hand and give the rest back.
func runRoles(
    _ roles: Set<Role>,
    url: DatabaseURL,
    configuration: SystemConfiguration,
    logger: Logger,
    metrics: (any Service)? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    beforeStart: @escaping @Sendable (PostgresClientBox) async throws -> Void = { _ in }
) async throws {
    // The login pool: migrations, start-up hooks, the LISTEN connection and the notifier's (each
    // service has its own pool), or everything when service roles are off.
    let connections = configuration.serviceRoles ? 5 : roles.count * configuration.consumerConcurrency + 10
    // Long-running processes wait for a database that is still starting (or restarting).
    try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: true, maximumConnections: connections, reachTimeout: .seconds(120)) { client in
        try await beforeStart(PostgresClientBox(client: client))
        // The metrics server first: it stops last, so the last scrape sees the drain.
        let services = (metrics.map { [$0] } ?? []) + EvenTicketSystem.services(
            roles: roles, configuration: configuration, url: url, client: client, logger: logger, onServerRunning: onServerRunning)
        var groupConfiguration = ServiceGroupConfiguration(
            services: ([ShutdownDeadline(limit: .seconds(15), logger: logger)] + services)
                .map { .init(service: LoggingFailure(service: $0, logger: logger)) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        // A bounded drain: what has not finished 20 s after SIGTERM is cancelled, and a process
        // that still has not stopped 5 s later ends with a fatal error rather than hang. Before
        // that, ShutdownDeadline ends it 15 s after the signal, with exit status 75.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info("running", metadata: ["roles": "\(roles.map(\.rawValue).sorted().joined(separator: ","))", "database": "\(url)"])
        try await group.run()
    }
}

/// Hands the pool to a start-up hook.
struct PostgresClientBox: Sendable {
    let client: PostgresClient
}

/// Logs why a service failed, at error level, before its failure cancels the other services:
/// the service group reports it only at debug level, and a cancellation that outlasts its
/// limit ends the process with a fatal error that does not name it.
struct LoggingFailure: Service {
    let service: any Service
    let logger: Logger

    func run() async throws {
        do {
            try await service.run()
        } catch {
            if !(error is CancellationError) {
                logger.error("a service failed; stopping the others", metadata: [
                    "service": "\(type(of: service))", "error": "\(error.diagnosticDescription)",
                ])
            }
            throw error
        }
    }
}
