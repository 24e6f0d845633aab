import EvenTicketApp
import EvenTicketTesting
import Foundation
@testable import HTTPAPI
import Logging
import PostgresNIO
import Testing

/// The served OpenAPI document stays true to the router. CI also fuzzes the running API
/// against it (`.ci/fuzz.sh`).
@Suite("OpenAPI document", .timeLimit(.minutes(3)))
struct OpenAPITests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    @Test func documentsExactlyTheRoutesTheRouterHas() throws {
        let logger = TestLogger.make()
        // The pool is never run: building routes opens no connection.
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: nil, tls: .disable),
            backgroundLogger: logger)
        let intake = OrderIntake(client: client, engine: SystemConfiguration().sagaEngine, wakeups: nil, logger: logger)
        let router = buildRouter(configuration: .init(), client: client, intake: intake, logger: logger)
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })

        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        #expect(documented == routed)
    }

    @Test func isServedAsOpenAPI31() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let result = try await system.request(.get, "/openapi.json", as: .none)
            #expect(result.status == .ok)
            #expect(result.body["openapi"]?.string == "3.1.0")
            #expect(result.body["paths"]?.object?.count == 8)
        }
    }
}
