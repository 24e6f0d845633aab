import Access
import Database
import EvenTicketApp
import EvenTicketTesting
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdTesting
import Logging
import Orchestrator
import PostgresNIO
import ServiceLifecycle
import Testing

/// A whole EvenTicket system on a fresh database: every consumer running, the HTTP API driven
/// through Hummingbird's router test client.
struct TestSystem: Sendable {
    let client: PostgresClient
    let http: any TestClientProtocol
    let logger: Logger
    /// Bearer tokens of each role, made for this system.
    let tokens: [AccessRole: String]

    /// The credentials a request carries.
    enum Credentials: Sendable {
        case role(AccessRole)
        case token(String)
        case none
    }

    /// Step timeouts long enough for a loaded CI machine running suites in parallel; the tests
    /// of timeout paths shorten them.
    static let configuration = SystemConfiguration(
        api: .init(tokenCacheTTL: .zero), stepTimeout: .seconds(10), consumerConcurrency: 2, retryBase: .milliseconds(20))

    static func run(
        configuration: SystemConfiguration = TestSystem.configuration,
        roles: Set<Role> = Set(Role.allCases),
        extraServices: @Sendable @escaping (PostgresClient, Logger) -> [any Service] = { _, _ in [] },
        logger: Logger = TestLogger.make(),
        _ body: @Sendable @escaping (TestSystem) async throws -> Void
    ) async throws {
        try await slots.run {
            try await runAlone(configuration: configuration, roles: roles, extraServices: extraServices, logger: logger, body)
        }
    }

    /// Whole systems (or bare databases) in use at once; each holds dozens of connections.
    static let slots = ConcurrencyLimit(width: 4)

    private static func runAlone(
        configuration: SystemConfiguration, roles: Set<Role>,
        extraServices: @Sendable @escaping (PostgresClient, Logger) -> [any Service],
        logger: Logger, _ body: @Sendable @escaping (TestSystem) async throws -> Void
    ) async throws {
        try await TestDatabases.shared.withDatabase { url in
            try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: true, maximumConnections: 40) { client in
                let services = EvenTicketSystem.services(
                    roles: roles, configuration: configuration, url: url, client: client, logger: logger, http: false)
                    + extraServices(client, logger)
                // The HTTP API acts as its service role with its settings, as `serve` does.
                let apiClient = PostgresClient(
                    configuration: url.clientConfiguration(
                        maximumConnections: 20, role: configuration.serviceRoles ? Role.api.databaseRole : nil,
                        settings: EvenTicketSystem.servicePoolSettings),
                    backgroundLogger: logger)
                // One service group, as in a process: services stop in reverse order on graceful
                // shutdown, so consumers finish before the pools they use.
                var groupConfiguration = ServiceGroupConfiguration(
                    services: ([apiClient] + services).map { .init(service: $0) }, gracefulShutdownSignals: [], cancellationSignals: [],
                    logger: logger)
                // As in a process (`Run`): a service that does not stop is cancelled, not waited on forever.
                groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
                groupConfiguration.maximumCancellationDuration = .seconds(5)
                let group = ServiceGroup(configuration: groupConfiguration)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    do {
                        let app = buildApplication(
                            configuration: configuration.api, client: apiClient,
                            engine: configuration.sagaEngine, logger: logger)
                        let access = AccessTokens(client: client)
                        var tokens: [AccessRole: String] = [:]
                        for role in AccessRole.allCases {
                            tokens[role] = try await access.create(name: "test \(role)", role: role, logger: logger).token
                        }
                        try await app.test(.router) { [tokens] http in
                            try await body(TestSystem(client: client, http: http, logger: logger, tokens: tokens))
                        }
                    } catch {
                        await group.triggerGracefulShutdown()
                        throw error
                    }
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
        }
    }

    /// Runs `body` with a pool on a fresh migrated database and nothing else running.
    static func withDatabase(_ body: @Sendable @escaping (PostgresClient, Logger) async throws -> Void) async throws {
        try await slots.run {
            try await TestDatabases.shared.withDatabase { url in
                let logger = TestLogger.make()
                try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, maximumConnections: 20) { client in
                    try await body(client, logger)
                }
            }
        }
    }

    // MARK: HTTP helpers

    struct HTTPResult: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [String: JSONValue]
        var text: String
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:],
        as credentials: Credentials = .role(.operator)
    ) async throws -> HTTPResult {
        var headers = headers
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        switch credentials {
        case .role(let role): headers[.authorization] = "Bearer \(tokens[role]!)"
        case .token(let token): headers[.authorization] = "Bearer \(token)"
        case .none: break
        }
        let response = try await http.execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        let text = String(buffer: response.body)
        let object = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
        return HTTPResult(status: response.status, headers: response.headers, body: object, text: text)
    }

    /// Creates an event with one ticket type and returns (eventId, ticketTypeId).
    func createEvent(capacity: Int, priceCents: Int = 2500) async throws -> (event: String, ticketType: String) {
        let result = try await request(.post, "/events", json: """
            {"name":"Test night","ticketTypes":[{"name":"GA","priceCents":\(priceCents),"currency":"EUR","capacity":\(capacity)}]}
            """)
        #expect(result.status == .created, "\(result.text)")
        let event = try #require(result.body["eventId"]?.string)
        let type = try #require(result.body["ticketTypes"]?.array?.first?.object?["ticketTypeId"]?.string)
        return (event, type)
    }

    func orderJSON(event: String, ticketType: String, quantity: Int = 2, token: String = "tok_visa", customer: String = "c-1") -> String {
        """
        {"customerId":"\(customer)","eventId":"\(event)","lines":[{"ticketTypeId":"\(ticketType)","quantity":\(quantity)}],"paymentToken":"\(token)"}
        """
    }

    /// Places an order and returns (orderId, sagaId).
    func placeOrder(event: String, ticketType: String, quantity: Int = 2, token: String = "tok_visa") async throws -> (order: String, saga: String) {
        let result = try await request(.post, "/orders", json: orderJSON(event: event, ticketType: ticketType, quantity: quantity, token: token))
        #expect(result.status == .accepted, "\(result.text)")
        return (try #require(result.body["orderId"]?.string), try #require(result.body["sagaId"]?.string))
    }

    /// Waits for an order to leave `pending` and returns its final JSON.
    func awaitTerminalOrder(_ orderID: String, timeout: Duration = .seconds(60)) async throws -> [String: JSONValue] {
        var last: [String: JSONValue] = [:]
        let done = try await eventually(timeout: timeout) {
            last = try await request(.get, "/orders/\(orderID)").body
            return last["status"]?.string != "pending"
        }
        #expect(done, "order \(orderID) still pending: \(last)")
        return last
    }

    /// Waits for a saga to reach `state` and returns its final JSON.
    func awaitSaga(_ sagaID: String, state: String, timeout: Duration = .seconds(60)) async throws -> [String: JSONValue] {
        var last: [String: JSONValue] = [:]
        let reached = try await eventually(timeout: timeout) {
            last = try await request(.get, "/sagas/\(sagaID)").body
            return last["state"]?.string == state
        }
        #expect(reached, "saga \(sagaID) is \(last["state"]?.string ?? "?"), not \(state)")
        return last
    }

    /// Waits until the bus holds no message that is due (delayed ones may remain). A message a
    /// consumer has claimed but not committed still counts.
    func awaitQuiet(timeout: Duration = .seconds(60)) async throws {
        let quiet = try await eventually(timeout: timeout) {
            try await scalar("SELECT count(*)::int FROM bus.messages WHERE visible_at <= now()") == 0
        }
        #expect(quiet, "messages still due on the bus")
    }

    /// Waits for the bus to go quiet, then runs the consistency audit.
    func audit() async throws -> ConsistencyAudit.Report {
        try await awaitQuiet()
        return try await ConsistencyAudit(client: client).run(logger: logger)
    }

    /// Expects a clean audit, listing the violations when it is not.
    func expectAuditClean(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let report = try await audit()
        #expect(report.violations.isEmpty, "\(report.violations)", sourceLocation: sourceLocation)
        #expect(report.deadLetters.isEmpty, "\(report.deadLetters)", sourceLocation: sourceLocation)
    }

    func scalar(_ query: PostgresQuery) async throws -> Int {
        try await TestSystem.scalar(query, client: client, logger: logger)
    }

    static func scalar(_ query: PostgresQuery, client: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await client.query(query, logger: logger)
        for try await value in rows.decode(Int?.self) { return value ?? 0 }
        return 0
    }
}
