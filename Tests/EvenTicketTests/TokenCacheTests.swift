import Access
import EvenTicketTesting
@testable import HTTPAPI
import Logging
import Synchronization
import Testing

/// The API's token cache: a token's role is looked up once per time to live, however many
/// requests carry it, and a lookup running for a token serves every request that misses
/// meanwhile.
@Suite("Token cache", .timeLimit(.minutes(3)))
struct TokenCacheTests {
    /// Counts lookups; each takes `delay` before it asks the database, so that requests made
    /// together all arrive while it runs.
    final class CountingLookUp: Sendable {
        let tokens: AccessTokens
        let delay: Duration
        let failures: Int
        private let calls = Mutex(0)

        init(_ tokens: AccessTokens, delay: Duration = .milliseconds(200), failingFirst failures: Int = 0) {
            self.tokens = tokens
            self.delay = delay
            self.failures = failures
        }

        var count: Int { calls.withLock { $0 } }

        func callAsFunction(_ token: String, _ logger: Logger) async throws -> AccessRole? {
            let call = calls.withLock { calls in
                calls += 1
                return calls
            }
            try await Task.sleep(for: delay)
            if call <= failures { throw LookupFailed() }
            return try await tokens.role(of: token, logger: logger)
        }
    }

    struct LookupFailed: Error {}

    /// Asks for `token`'s role `times` times at once.
    static func roles(of token: String, times: Int, in cache: TokenCache, logger: Logger) async -> [Result<AccessRole?, any Error>] {
        await withTaskGroup(of: Result<AccessRole?, any Error>.self) { group in
            for _ in 0..<times {
                group.addTask {
                    do { return .success(try await cache.role(of: token, logger: logger)) } catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func requestsTogetherShareOneLookupPerTimeToLive() async throws {
        try await TestSystem.withDatabase { client, logger in
            let tokens = AccessTokens(client: client)
            let created = try await tokens.create(name: "busy client", role: .client, logger: logger)
            let lookUp = CountingLookUp(tokens)
            let ttl = Duration.milliseconds(600)
            let cache = TokenCache(timeToLive: ttl) { try await lookUp($0, $1) }

            let first = await Self.roles(of: created.token, times: 50, in: cache, logger: logger)
            #expect(first.map { try? $0.get() } == Array(repeating: .client, count: 50))
            #expect(lookUp.count == 1)
            let remembered = await Self.roles(of: created.token, times: 50, in: cache, logger: logger)
            #expect(remembered.map { try? $0.get() } == Array(repeating: .client, count: 50))
            #expect(lookUp.count == 1, "remembered for the time to live")

            try await Task.sleep(for: ttl)
            let afterExpiry = await Self.roles(of: created.token, times: 50, in: cache, logger: logger)
            #expect(afterExpiry.map { try? $0.get() } == Array(repeating: .client, count: 50))
            #expect(lookUp.count == 2, "one lookup after the entry expired, not one per request")

            // Revoked: seen once the remembered role has expired; a token that is not valid is
            // not remembered, but requests together still share its lookup.
            #expect(try await tokens.revoke(created.id, logger: logger))
            try await Task.sleep(for: ttl)
            let revoked = await Self.roles(of: created.token, times: 50, in: cache, logger: logger)
            #expect(revoked.map { try? $0.get() } == Array(repeating: nil, count: 50))
            #expect(lookUp.count == 3)
            #expect(try await cache.role(of: created.token, logger: logger) == nil)
            #expect(lookUp.count == 4)
        }
    }

    @Test func aFailedLookupFailsItsWaitersAndIsNotRemembered() async throws {
        try await TestSystem.withDatabase { client, logger in
            let tokens = AccessTokens(client: client)
            let created = try await tokens.create(name: "client", role: .operator, logger: logger)
            let lookUp = CountingLookUp(tokens, failingFirst: 1)
            let cache = TokenCache(timeToLive: .seconds(60)) { try await lookUp($0, $1) }

            let failed = await Self.roles(of: created.token, times: 20, in: cache, logger: logger)
            #expect(failed.allSatisfy { if case .failure(let error) = $0 { error is LookupFailed } else { false } })
            #expect(lookUp.count == 1)
            #expect(try await cache.role(of: created.token, logger: logger) == .operator)
            #expect(lookUp.count == 2)
        }
    }

    @Test func withoutATimeToLiveEachRequestLooksItsTokenUp() async throws {
        try await TestSystem.withDatabase { client, logger in
            let tokens = AccessTokens(client: client)
            let created = try await tokens.create(name: "client", role: .client, logger: logger)
            let lookUp = CountingLookUp(tokens, delay: .milliseconds(50))
            let cache = TokenCache(timeToLive: .zero) { try await lookUp($0, $1) }

            let roles = await Self.roles(of: created.token, times: 10, in: cache, logger: logger)
            #expect(roles.map { try? $0.get() } == Array(repeating: .client, count: 10))
            #expect(lookUp.count == 10)
        }
    }
}
