import Foundation
import PostgresNIO

/// A parsed `postgres://user:pass@host:port/db?sslmode=…` URL.
///
/// A host that is a path (`postgres://user@%2Ftmp%2Fsock/db`, or `?host=/tmp/sock`) means a
/// Unix-domain socket directory, as libpq reads it.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The full path of the socket file (`DIR/.s.PGSQL.PORT`).
        case unixSocket(path: String)
    }

    public enum SSLMode: String, Sendable {
        case disable, allow, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// `sslrootcert`: a PEM file (or a folder of them) of the certificate authorities to trust,
    /// instead of the system's; nil (or `system`) for the system's.
    public var sslRootCert: String?
    /// libpq parameters the URL gave that this program does not apply (`connect_timeout`,
    /// `application_name`, …; see ``ignorableParameters``), for a warning at start-up.
    public var ignoredParameters: [String] = []

    public init(endpoint: Endpoint, username: String, password: String? = nil, database: String, sslMode: SSLMode = .prefer,
                sslRootCert: String? = nil) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }

    /// The query parameters this program applies.
    static let queryParameters: Set<String> = ["host", "port", "user", "password", "dbname", "sslmode", "sslrootcert"]

    /// libpq parameters whose absence changes nothing that matters to safety or to which server
    /// and database are used: accepted, not applied, and named in a warning.
    static let ignorableParameters: Set<String> = [
        "application_name", "fallback_application_name", "connect_timeout", "client_encoding", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "load_balance_hosts",
        "sslsni", "sslcompression",
    ]

    /// libpq parameters accepted (and not applied) only with the values that ask for no more
    /// than this program does: no GSS encryption, any server (it connects to one host and
    /// checks nothing about it), channel binding only if available (postgres-nio does none),
    /// PostgreSQL's own TLS negotiation.
    static let ignorableValues: [String: Set<String>] = [
        "gssencmode": ["disable", "prefer"],
        "target_session_attrs": ["any"],
        "channel_binding": ["disable", "prefer"],
        "sslnegotiation": ["postgres"],
    ]

    /// Every connection parameter libpq knows (PostgreSQL 17), for telling a misspelt one from
    /// one this program does not support.
    static let libpqParameters: Set<String> = queryParameters.union(ignorableParameters).union(ignorableValues.keys).union([
        "hostaddr", "passfile", "options", "replication", "sslcert", "sslkey", "sslpassword", "sslcertmode", "sslcrl",
        "sslcrldir", "requirepeer", "require_auth", "service", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "gsslib", "gssdelegation", "krbsrvname",
    ])

    /// Parses a URL, throwing an error that says what is wrong with it.
    public init(_ string: String) throws {
        guard let components = URLComponents(string: string),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw DatabaseURLError(reason: "must look like postgres://user:password@host:port/database")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last }
        )
        // A parameter libpq does not know is refused, as libpq does: a misspelt
        // `sslMode=verify-full` would otherwise connect under `prefer`, unchecked. One libpq
        // knows is applied, ignored with a warning when ignoring it changes nothing that
        // matters to safety (a timeout, a name), or refused (a client certificate, channel
        // binding: connecting without them would not be what was asked for).
        for name in query.keys.sorted() where !Self.queryParameters.contains(name) {
            if Self.ignorableParameters.contains(name) || Self.ignorableValues[name]?.contains(query[name] ?? "") == true {
                ignoredParameters.append(name)
            } else if let values = Self.ignorableValues[name] {
                throw DatabaseURLError(
                    reason: "\(name)=\(query[name] ?? "") is not supported by this program (only \(values.sorted().joined(separator: " or ")))")
            } else if Self.libpqParameters.contains(name) {
                throw DatabaseURLError(reason: "parameter '\(name)' is not supported by this program")
            } else {
                throw DatabaseURLError(
                    reason: "unknown parameter '\(name)' (supported: \(Self.queryParameters.sorted().joined(separator: ", ")))")
            }
        }
        if let text = query["port"], components.port == nil, Int(text) == nil {
            throw DatabaseURLError(reason: "port '\(text)' is not a number")
        }
        let port = components.port ?? query["port"].flatMap(Int.init) ?? 5432
        guard (1...65535).contains(port) else { throw DatabaseURLError(reason: "port \(port) is out of range") }
        // An IPv6 address comes in brackets (`[2001:db8::1]`), which are not part of it.
        var host = query["host"] ?? components.percentEncodedHost?.removingPercentEncoding ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasPrefix("/") {
            endpoint = .unixSocket(path: "\(host)/.s.PGSQL.\(port)")
        } else {
            endpoint = .tcp(host: host.isEmpty ? "localhost" : host, port: port)
        }
        // Decoded once: `user` and `password` are decoded already, and decoding a password such
        // as `50%off` (sent as `50%25off`) again would fail or change it.
        username = components.percentEncodedUser?.removingPercentEncoding ?? query["user"] ?? "postgres"
        password = components.percentEncodedPassword?.removingPercentEncoding ?? query["password"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? query["dbname"] ?? username : path
        if let mode = query["sslmode"] {
            guard let parsed = SSLMode(rawValue: mode) else {
                throw DatabaseURLError(reason: "sslmode '\(mode)' is not one of disable, allow, prefer, require, verify-ca, verify-full")
            }
            sslMode = parsed
        } else {
            sslMode = .prefer
        }
        sslRootCert = query["sslrootcert"].flatMap { $0.isEmpty || $0 == "system" ? nil : $0 }
    }

    /// The URL with the password masked, safe to log.
    public var description: String {
        let credentials = password == nil ? username : "\(username):***"
        switch endpoint {
        case .tcp(let host, let port): return "postgres://\(credentials)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        case .unixSocket(let path): return "postgres://\(credentials)@[\(path)]/\(database)"
        }
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// TLS as `sslMode` asks for it; nil for none.
    /// - `disable`, `allow`: no TLS (`allow` would fall back to it only where the server
    ///   demands it, which this client does not try).
    /// - `prefer`: TLS when the server offers it, its certificate not checked, as libpq does:
    ///   a server with a self-signed certificate (as Debian's packaged one has) still answers.
    /// - `require`: TLS, the certificate checked against the trusted authorities and the host
    ///   name (stricter than libpq, which checks nothing under `require`).
    /// - `verify-ca`: TLS, the certificate checked against the trusted authorities only.
    /// - `verify-full`: TLS, both.
    /// The trusted authorities are the system's, or those of `sslrootcert`.
    public var tlsConfiguration: TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable, .allow: return nil
        case .prefer: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .require, .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let sslRootCert { tls.trustRoots = .file(sslRootCert) }
        return tls
    }

    /// A pool configuration for postgres-nio. With `role`, every connection acts as that role
    /// (the login user must be a member of it); role names are the program's own constants.
    /// With `idleInTransactionTimeout`, PostgreSQL ends a session that sits that long in an
    /// open transaction (a hung consumer's claimed messages then go back to the queue).
    /// `settings` are further server settings for every connection (program constants only).
    public func clientConfiguration(
        maximumConnections: Int = 20, role: String? = nil, idleInTransactionTimeout: Duration? = nil,
        settings: [(name: String, value: String)] = []
    ) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS = switch (sslMode, tlsConfiguration) {
            case (.prefer, let tls?): .prefer(tls)
            case (_, let tls?): .require(tls)
            case (_, nil): .disable
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.maximumConnections = maximumConnections
        var options: [String] = []
        if let role { options.append("-c role=\(role)") }
        if let idleInTransactionTimeout {
            options.append("-c idle_in_transaction_session_timeout=\(idleInTransactionTimeout.milliseconds)")
        }
        options += settings.map { "-c \($0.name)=\($0.value)" }
        configuration.options.additionalStartupParameters = [("application_name", Self.applicationName)]
        if !options.isEmpty {
            configuration.options.additionalStartupParameters.append(("options", options.joined(separator: " ")))
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// What the sessions call themselves in `pg_stat_activity.application_name`: the
    /// program, its subcommand and its process id (`eventicket worker 4711`), so that an
    /// operator can tell which process a session belongs to.
    public static let applicationName: String = {
        let process = ProcessInfo.processInfo
        let subcommand = process.arguments.dropFirst().first.flatMap { $0.hasPrefix("-") ? nil : $0 }
        let name = ([process.processName] + (subcommand.map { [$0] } ?? []) + ["\(process.processIdentifier)"]).joined(separator: " ")
        // PostgreSQL keeps 63 bytes of it, and only printable ASCII.
        return String(String.UnicodeScalarView(name.unicodeScalars.filter { $0.isASCII && $0.value >= 32 && $0.value < 127 }).suffix(63))
    }()

    /// One connection's configuration, as the pool's (``clientConfiguration(maximumConnections:role:idleInTransactionTimeout:settings:)``)
    /// but without a role or settings: for a single attempt whose failure should be the
    /// server's own answer (a wrong password, a missing database), which a pool retries
    /// silently instead of reporting.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS = switch (sslMode, tlsConfiguration) {
            case (.prefer, let tls?): .prefer(try NIOSSLContext(configuration: tls))
            case (_, let tls?): .require(try NIOSSLContext(configuration: tls))
            case (_, nil): .disable
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.additionalStartupParameters = [("application_name", Self.applicationName)]
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// A `DATABASE_URL` that cannot be used.
public struct DatabaseURLError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { "invalid database URL: \(reason)" }
}
