import Access
import Foundation
import Logging
import Synchronization

/// Remembers the roles of bearer tokens for a short while, so that a client's requests do not
/// each cost a database lookup. Only valid tokens are remembered; a revoked one keeps working
/// for at most ``timeToLive``.
final class TokenCache: Sendable {
    private struct Entry {
        var role: AccessRole
        var expires: ContinuousClock.Instant
    }

    private let tokens: AccessTokens
    private let timeToLive: Duration
    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 10_000

    init(tokens: AccessTokens, timeToLive: Duration) {
        self.tokens = tokens
        self.timeToLive = timeToLive
    }

    /// The role of a token that exists and is not revoked.
    func role(of token: String, logger: Logger) async throws -> AccessRole? {
        let now = ContinuousClock.now
        if timeToLive > .zero, let entry = entries.withLock({ $0[token] }), entry.expires > now {
            return entry.role
        }
        let role = try await tokens.role(of: token, logger: logger)
        if timeToLive > .zero {
            entries.withLock { entries in
                if entries.count >= capacity { entries = entries.filter { $0.value.expires > now } }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                if let role { entries[token] = Entry(role: role, expires: now + timeToLive) } else { entries[token] = nil }
            }
        }
        return role
    }
}
