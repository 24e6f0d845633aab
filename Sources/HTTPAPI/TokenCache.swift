import Access
import Foundation
import Logging
import Synchronization

/// Remembers the roles of bearer tokens for a short while, so that a client's requests do not
/// each cost a database lookup. Only valid tokens are remembered; a revoked one keeps working
/// for at most ``timeToLive``.
///
/// One lookup per token at a time (``SharedLookups``): requests that miss while a lookup of
/// their token is running wait for its answer instead of starting their own. Without that,
/// every request that arrived between a busy client's entry expiring and its lookup's answer
/// looked the token up itself: at 1,000 orders/s from one client, 5 s after the first request,
/// 16 lookups at once, each on a connection the pool had to open for it (a new PostgreSQL
/// backend each), and again, fewer, every 5 s after. The same holds for a token that is not
/// valid (not remembered): a flood of requests with it costs one lookup at a time, not one each.
///
/// With a ``timeToLive`` of zero nothing is remembered or shared: each request looks its token
/// up after it arrived, so a revocation counts from the next request.
final class TokenCache: Sendable {
    /// Finds a token's role: nil for a token that does not exist or was revoked.
    typealias LookUp = @Sendable (_ token: String, _ logger: Logger) async throws -> AccessRole?

    private struct Entry {
        var role: AccessRole
        var expires: ContinuousClock.Instant
    }

    private let lookUp: LookUp
    private let timeToLive: Duration
    private let entries = Mutex<[String: Entry]>([:])
    private let lookups = SharedLookups<String, AccessRole?>()
    private let capacity = 10_000

    init(timeToLive: Duration, lookUp: @escaping LookUp) {
        self.timeToLive = timeToLive
        self.lookUp = lookUp
    }

    convenience init(tokens: AccessTokens, timeToLive: Duration) {
        self.init(timeToLive: timeToLive) { token, logger in try await tokens.role(of: token, logger: logger) }
    }

    /// The role of a token that exists and is not revoked.
    func role(of token: String, logger: Logger) async throws -> AccessRole? {
        guard timeToLive > .zero else { return try await lookUp(token, logger) }
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[token] }), entry.expires > now { return entry.role }
        return try await lookups.value(for: token) { try await self.lookUpAndRemember(token, logger: logger) }
    }

    /// Looks `token` up and remembers the answer: a valid token's role; that it is not valid
    /// replaces what was remembered. A failure is remembered by nobody: the next request tries
    /// again.
    /// The entry lasts ``timeToLive`` from when the lookup began, before it read the token: a
    /// revocation that came while it ran is seen ``timeToLive`` after it at the latest.
    private func lookUpAndRemember(_ token: String, logger: Logger) async throws -> AccessRole? {
        let began = ContinuousClock.now
        let role = try await lookUp(token, logger)
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.expires > now } }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = role.map { Entry(role: $0, expires: began + timeToLive) }
        }
        return role
    }
}
