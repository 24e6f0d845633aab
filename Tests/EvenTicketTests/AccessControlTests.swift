import Access
import EvenTicketTesting
import Foundation
import HTTPTypes
import Testing

/// Bearer tokens with roles guard the HTTP API.
@Suite("Access control", .timeLimit(.minutes(3)))
struct AccessControlTests {
    @Test func requestsWithoutAValidTokenAreUnauthorized() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            for credentials: TestSystem.Credentials in [.none, .token("et_not-a-real-token"), .token("garbage")] {
                let result = try await system.request(.get, "/orders/\(UUID())", as: credentials)
                HTTPAPITests.expectProblem(result, .unauthorized)
                #expect(result.headers[.wwwAuthenticate] == "Bearer")
            }
            // Health stays open for load balancers.
            #expect(try await system.request(.get, "/health", as: .none).status == .ok)
        }
    }

    @Test func clientsOrderAndReadButOnlyOperatorsManage() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 5)
            let body = system.orderJSON(event: event, ticketType: type)
            #expect(try await system.request(.post, "/orders", json: body, as: .role(.client)).status == .accepted)
            #expect(try await system.request(.get, "/events/\(event)", as: .role(.client)).status == .ok)
            let createEvent = #"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1}]}"#
            HTTPAPITests.expectProblem(try await system.request(.post, "/events", json: createEvent, as: .role(.client)), .forbidden)
            HTTPAPITests.expectProblem(try await system.request(.get, "/sagas", as: .role(.client)), .forbidden)
            #expect(try await system.request(.get, "/sagas", as: .role(.operator)).status == .ok)
        }
    }

    @Test func aRevokedTokenStopsWorkingAndOnlyItsHashIsStored() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let tokens = AccessTokens(client: system.client)
            let created = try await tokens.create(name: "temp", role: .client, logger: system.logger)
            #expect(try await system.request(.get, "/orders/\(UUID())", as: .token(created.token)).status == .notFound)
            let stored = try await system.scalar("SELECT count(*)::int FROM access.tokens WHERE token_hash = \(created.token)")
            #expect(stored == 0, "the token itself must not be stored")
            #expect(try await tokens.revoke(created.id, logger: system.logger))
            HTTPAPITests.expectProblem(try await system.request(.get, "/orders/\(UUID())", as: .token(created.token)), .unauthorized)
        }
    }
}
