import Access
import Database
import EvenTicketApp
import Foundation
@testable import HTTPAPI
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Inventory
import Logging
import Orchestrator
import Ordering
import PostgresNIO
import Testing
import _ConnectionPoolModule

/// What the API answers while PostgreSQL cannot be reached.
@Suite("Database unavailable", .timeLimit(.minutes(1)))
struct DatabaseUnavailableTests {
    @Test func thePoolGivingUpOnConnectionsCountsAsTheDatabaseBeingUnavailable() {
        // postgres-nio throws it as it is once its circuit breaker trips; it was answered 500.
        #expect(ConnectionPoolError.connectionCreationCircuitBreakerTripped.isDatabaseUnavailable)
        #expect(!ConnectionPoolError.requestCancelled.isPoolGivingUp)
    }

    /// Runs `body` with a running pool of a server that is down: nothing listens on port 1, so
    /// every connection attempt is refused, and a lease waits until the pool's circuit breaker
    /// trips (60 s).
    static func withRefusedDatabase(_ body: @Sendable (PostgresClient, Logger) async throws -> Void) async throws {
        let logger = Logger(label: "test")
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "none", tls: .disable),
            backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client, logger)
        }
    }

    /// Runs `test` against the API on a server that is down.
    static func testAPI(_ configuration: APIConfiguration, _ test: @Sendable @escaping (any TestClientProtocol) async throws -> Void) async throws {
        try await withRefusedDatabase { client, logger in
            let app = buildApplication(configuration: configuration, client: client, engine: SystemConfiguration().sagaEngine, logger: logger)
            try await app.test(.router, test)
        }
    }

    @Test func healthAnswers503WithRetryAfterWhenNothingListens() async throws {
        try await Self.testAPI(APIConfiguration(port: 0)) { http in
            try await http.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains("the database is not reachable"))
            }
            try await http.execute(uri: "/health", method: .head) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }

    /// Well under the pool's 60 s: the bound is what is tested, not a speed.
    static let answeredWithin = Duration.seconds(20)

    @Test func theAPIsReadsAndWritesGiveUpWaitingForAConnectionAfterTheConnectionWait() async throws {
        try await Self.withRefusedDatabase { client, logger in
            let wait = Duration.milliseconds(300)
            let catalog = Catalog(client: client, connectionWait: wait)
            let sagas = SagaQueries(client: client, connectionWait: wait)
            let tokens = AccessTokens(client: client, connectionWait: wait)
            let calls: [(String, @Sendable () async throws -> Void)] = [
                ("an event", { _ = try await catalog.event(UUID(), logger: logger) }),
                ("a new event", { _ = try await catalog.createEvent(name: "e", ticketTypes: [], logger: logger) }),
                ("a saga", { _ = try await sagas.saga(UUID(), logger: logger) }),
                ("a page of sagas", { _ = try await sagas.list(state: nil, limit: 5, after: nil, logger: logger) }),
                ("a token's role", { _ = try await tokens.role(of: "et_unknown", logger: logger) }),
            ]
            for (what, call) in calls {
                let started = ContinuousClock.now
                let error = await #expect(throws: ConnectionWaitTimedOut.self, "\(what)") { try await call() }
                #expect(error?.isDatabaseUnavailable == true, "\(what)")
                #expect(ContinuousClock.now - started < Self.answeredWithin, "\(what)")
            }
        }
    }

    @Test func ordersWaitingForTheIntakesConnectionFailAfterTheConnectionWait() async throws {
        try await Self.withRefusedDatabase { client, logger in
            let intake = OrderIntake(
                client: client, engine: SystemConfiguration().sagaEngine, wakeups: nil, connectionWait: .milliseconds(300), logger: logger)
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await intake.run() }
                defer { group.cancelAll() }
                let placement = OrderIntake.Placement(
                    order: .init(customerID: "c-1", eventID: UUID(), lines: [.init(ticketTypeId: UUID(), quantity: 1)], totalCents: 100,
                                 currency: "EUR", request: "{}", idempotencyKey: nil),
                    paymentToken: "tok_visa")
                // Twice: the writer gives up, then waits (and gives up) again for the next order.
                for attempt in 1...2 {
                    let started = ContinuousClock.now
                    await #expect(throws: ConnectionWaitTimedOut.self, "attempt \(attempt)") { _ = try await intake.place(placement) }
                    #expect(ContinuousClock.now - started < Self.answeredWithin, "attempt \(attempt)")
                }
            }
        }
    }

    @Test func aRequestAnswers503WithRetryAfterOnceTheConnectionWaitIsOver() async throws {
        try await Self.testAPI(APIConfiguration(port: 0, connectionWait: .milliseconds(300))) { http in
            let started = ContinuousClock.now
            // The token's lookup is the first thing that needs the database.
            try await http.execute(uri: "/orders/\(UUID())", method: .get, headers: [.authorization: "Bearer et_unknown"]) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            #expect(ContinuousClock.now - started < Self.answeredWithin)
        }
    }

    @Test func onlyTheWaitIsBoundedNotTheWorkOnceItHasAConnection() async throws {
        try await TestSystem.withDatabase { client, logger in
            // An idle connection in the pool, so that the lease comes well within the wait.
            _ = try await client.query("SELECT 1", logger: logger).collect()
            let value = try await client.withConnection(waitingAtMost: .milliseconds(200)) { connection in
                try await Task.sleep(for: .milliseconds(600)) // well past the wait
                var value = 0
                for try await one in try await connection.query("SELECT 1", logger: logger).decode(Int.self) { value = one }
                return value
            }
            #expect(value == 1)
        }
    }
}
