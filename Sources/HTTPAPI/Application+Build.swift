import Access
import Database
import Hummingbird
import Inventory
import Logging
import MessageBus
import Orchestrator
import PostgresNIO

/// Settings of the HTTP API.
public struct APIConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// How long a bearer token's role is remembered after a lookup; a revoked token keeps
    /// working for at most this long in a running server. Zero looks up every request.
    public var tokenCacheTTL: Duration
    /// How long the order intake keeps its database connection without a request before it
    /// gives it back to the pool.
    public var intakeIdleLimit: Duration
    /// How long a request waits for a pooled database connection before it is answered 503.
    /// While PostgreSQL is down, the pool would otherwise hold it until its circuit breaker
    /// trips (60 s); a connection that is free or can be opened comes in milliseconds.
    public var connectionWait: Duration

    public init(host: String = "127.0.0.1", port: Int = 8080, tokenCacheTTL: Duration = .seconds(5),
                intakeIdleLimit: Duration = .seconds(10), connectionWait: Duration = .seconds(5)) {
        self.host = host
        self.port = port
        self.tokenCacheTTL = tokenCacheTTL
        self.intakeIdleLimit = intakeIdleLimit
        self.connectionWait = connectionWait
    }
}

/// Builds the public HTTP API. The executable and the tests both call this.
///
/// The caller runs `client` (and any consumers) itself. With `wakeups`, the consumers of the
/// sagas' first commands are woken after each commit (see ``Wakeups/committed(_:)``); without
/// it, the commit notifies them.
public func buildApplication(
    configuration: APIConfiguration,
    client: PostgresClient,
    engine: SagaEngine,
    wakeups: Wakeups? = nil,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let intake = OrderIntake(
        client: client, engine: engine, wakeups: wakeups, idleLimit: configuration.intakeIdleLimit,
        connectionWait: configuration.connectionWait, logger: logger)
    return Application(
        router: buildRouter(configuration: configuration, client: client, intake: intake, logger: logger),
        // A request that is not valid HTTP gets a problem body too (see `MalformedRequestHandler`).
        server: .http1(configuration: .init(additionalChannelHandlers: [MalformedRequestHandler()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "EvenTicket"),
        services: [intake],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// Every route of the API, with problem responses and role checks.
func buildRouter(configuration: APIConfiguration, client: PostgresClient, intake: OrderIntake, logger: Logger) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    let allowed = AllowedMethods()
    // Outermost, so that it counts the answer a client gets, problem bodies included
    // (`http_server_requests_total`, `http_server_request_duration_seconds`,
    // `http_server_request_errors_total`, `http_server_active_requests`).
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(logger: logger, allowed: allowed))
    let wait = configuration.connectionWait
    let catalog = Catalog(client: client, connectionWait: wait)
    router.get("/health") { _, _ in
        guard await databaseAnswers(client, within: .seconds(2), logger: logger) else {
            throw ServiceUnavailable(title: "Not ready", detail: "the database is not reachable")
        }
        return JSONResponse.make(["status": "ok"])
    }
    // Load balancers often probe with HEAD: the same answer, without a body.
    router.head("/health") { _, _ in
        await databaseAnswers(client, within: .seconds(2), logger: logger)
            ? Response(status: .ok) : Response(status: .serviceUnavailable, headers: [.retryAfter: "1"])
    }
    let tokens = TokenCache(tokens: AccessTokens(client: client, connectionWait: wait), timeToLive: configuration.tokenCacheTTL)
    let clients = router.group().add(middleware: RequireRole(minimum: .client, tokens: tokens, logger: logger))
    let operators = router.group().add(middleware: RequireRole(minimum: .operator, tokens: tokens, logger: logger))
    EventRoutes(catalog: catalog, logger: logger).register(creating: operators, reading: clients)
    OrderRoutes(client: client, connectionWait: wait, prices: PriceList(catalog: catalog), intake: intake, logger: logger)
        .register(on: clients)
    SagaRoutes(sagas: SagaQueries(client: client, connectionWait: wait), logger: logger).register(reading: clients, listing: operators)
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }
    allowed.load(from: router)
    return router
}

/// Whether PostgreSQL answers a trivial query in time. While the server is down the pool keeps
/// reconnecting and a query would wait for it; readiness must answer promptly instead. The
/// query runs under a watchdog of the same timeout: the group returns only once it has ended,
/// and a query on a stalled connection would not end by itself.
func databaseAnswers(_ client: PostgresClient, within timeout: Duration, logger: Logger) async -> Bool {
    let watchdog = ConnectionWatchdog(timeout: timeout, drain: timeout, logger: logger)
    return await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            let answer = try? await client.withConnection(waitingAtMost: timeout, watchedBy: watchdog, "the readiness check") {
                try await $0.query("SELECT 1", logger: logger).collect()
            }
            return answer != nil
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}
