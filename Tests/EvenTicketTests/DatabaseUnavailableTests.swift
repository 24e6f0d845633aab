import Database
import EvenTicketApp
import HTTPAPI
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
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

    @Test func healthAnswers503WithRetryAfterWhenNothingListens() async throws {
        let logger = Logger(label: "test")
        // Nothing listens on port 1: every connection attempt is refused.
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "none", tls: .disable),
            backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let app = buildApplication(
                configuration: APIConfiguration(port: 0), client: client, engine: SystemConfiguration().sagaEngine, logger: logger)
            try await app.test(.router) { http in
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
    }
}
