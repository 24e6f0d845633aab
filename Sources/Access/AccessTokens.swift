import Crypto
import Database
import Foundation
import Logging
import PostgresNIO

/// Creates and checks API bearer tokens.
///
/// A token is `et_` and 43 characters of URL-safe base64 (256 random bits). Only its SHA-256 is
/// stored, so a leaked table yields no usable token; a slow hash adds nothing for tokens of that
/// strength.
public struct AccessTokens: Sendable {
    let client: PostgresClient
    /// How long ``role(of:logger:)`` waits for a pooled connection before it fails with
    /// `ConnectionWaitTimedOut` (nil: as long as the pool waits).
    let connectionWait: Duration?

    public init(client: PostgresClient, connectionWait: Duration? = nil) {
        self.client = client
        self.connectionWait = connectionWait
    }

    public struct Created: Sendable, Codable {
        public var id: UUID
        public var name: String
        public var role: AccessRole
        /// The token itself; it cannot be shown again.
        public var token: String
    }

    /// Makes a new token for `role`.
    public func create(name: String, role: AccessRole, logger: Logger) async throws -> Created {
        let token = Self.generate()
        let id = UUID()
        // In a transaction, so that the token is shown only once its commit is known (a single
        // statement's rows end before its implicit commit; see `PostgresConnection.commit`).
        try await client.transaction(logger: logger) { connection in
            _ = try await connection.query(
                "INSERT INTO access.tokens (id, name, role, token_hash) VALUES (\(id), \(name), \(role.rawValue), \(Self.hash(token)))",
                logger: logger).collect()
        }
        return Created(id: id, name: name, role: role, token: token)
    }

    /// The role of a token that exists and is not revoked.
    public func role(of token: String, logger: Logger) async throws -> AccessRole? {
        guard token.hasPrefix("et_"), token.count <= 100 else { return nil }
        let hash = Self.hash(token)
        return try await client.withConnection(waitingAtMost: connectionWait, watchedBy: .requests(logger: logger), "looking up a token's role") { connection in
            let rows = try await connection.query(
                "SELECT role FROM access.tokens WHERE token_hash = \(hash) AND revoked_at IS NULL", logger: logger)
            return try await rows.decode(String.self).lastElement().flatMap(AccessRole.init(rawValue:))
        }
    }

    /// Revokes a token by id; false when there was no live token with that id.
    public func revoke(_ id: UUID, logger: Logger) async throws -> Bool {
        // In a transaction, so that a revocation is reported only once it has committed.
        try await client.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                "UPDATE access.tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id", logger: logger).collect()
            return !rows.isEmpty
        }
    }

    static func generate() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "et_" + text
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
