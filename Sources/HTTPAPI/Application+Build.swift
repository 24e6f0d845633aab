import Access
import Database
import Hummingbird
import Inventory
import Logging
import Orchestrator
import PostgresNIO

/// Settings of the HTTP API.
public struct APIConfiguration: Sendable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}

/// Builds the public HTTP API. The executable and the tests both call this.
///
/// The caller runs `client` (and any consumers) itself.
public func buildApplication(
    configuration: APIConfiguration,
    client: PostgresClient,
    engine: SagaEngine,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(client: client, engine: engine, logger: logger),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "EvenTicket"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// Every route of the API, with problem responses and role checks.
func buildRouter(client: PostgresClient, engine: SagaEngine, logger: Logger) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    let allowed = AllowedMethods()
    router.add(middleware: ProblemMiddleware(logger: logger, allowed: allowed))
    let catalog = Catalog(client: client)
    router.get("/health") { _, _ in
        do {
            _ = try await client.query("SELECT 1", logger: logger).collect()
            return JSONResponse.make(["status": "ok"])
        } catch {
            throw Problem(.serviceUnavailable, "Not ready", detail: "the database is not reachable")
        }
    }
    let tokens = AccessTokens(client: client)
    let clients = router.group().add(middleware: RequireRole(minimum: .client, tokens: tokens, logger: logger))
    let operators = router.group().add(middleware: RequireRole(minimum: .operator, tokens: tokens, logger: logger))
    EventRoutes(catalog: catalog, logger: logger).register(creating: operators, reading: clients)
    OrderRoutes(client: client, catalog: catalog, engine: engine, logger: logger).register(on: clients)
    SagaRoutes(sagas: SagaQueries(client: client), logger: logger).register(reading: clients, listing: operators)
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }
    allowed.load(from: router)
    return router
}
