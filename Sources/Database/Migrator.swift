import Foundation
import Logging
import PostgresNIO

/// Applies the numbered SQL files in `migrations/` (`0001_name.sql`, …).
///
/// Pending files are applied in one transaction under an advisory lock, so several processes
/// may start at once: one applies, the others wait and then find nothing pending. A ledger
/// keeps each file's checksum; an applied file that was edited afterwards fails loudly.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sql: String
        public var checksum: String
    }

    public let migrations: [Migration]

    /// Where the program finds `migrations/`: `$EVENTICKET_MIGRATIONS_DIR`; else the first
    /// `migrations` folder beside the executable or in a folder above it (a checkout running
    /// `.build/debug/eventicket`, or an image with `/app/eventicket` and `/app/migrations`); else
    /// the source tree this was built from.
    public static var defaultDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["EVENTICKET_MIGRATIONS_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<8 {
            let candidate = folder.appendingPathComponent("migrations")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent(firstMigration).path) {
                return candidate
            }
            folder.deleteLastPathComponent()
        }
        // Sources/Database/Migrator.swift -> the repository root.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("migrations")
    }

    static let firstMigration = "0001_message_bus.sql"

    public init(directory: URL = Migrator.defaultDirectory) throws {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError(reason: "cannot read the migrations folder \(directory.path): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            guard let version = Int(file.prefix(while: \.isNumber)) else {
                throw MigrationError(reason: "migration file \(file) does not start with a number")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: file, sql: sql, checksum: Self.checksum(sql)))
        }
        // A folder of no migrations is a wrong folder (the checkout's root, say), not a schema
        // with nothing in it: on a new database it would report "up to date" and leave it empty.
        guard !migrations.isEmpty else {
            throw MigrationError(reason: "the migrations folder \(directory.path) holds no migration (NNNN_name.sql); "
                                     + "EVENTICKET_MIGRATIONS_DIR names the migrations folder itself")
        }
        if let duplicate = Dictionary(grouping: migrations, by: \.version).first(where: { $0.value.count > 1 }) {
            throw MigrationError(reason: "two migration files have number \(duplicate.key)")
        }
        self.migrations = migrations
    }

    /// Migrations not applied yet. Throws if an applied file was edited or removed. Writes
    /// nothing: a database without the ledger has every migration pending. (It created the
    /// ledger once, racing `migrate` to it; a loss inside `migrate`'s transaction left that
    /// transaction unusable.)
    public func pending(on client: PostgresClient, logger: Logger) async throws -> [Migration] {
        try await client.withConnection { connection in
            let ledger = try await connection.query("SELECT to_regclass('public.eventicket_migrations') IS NOT NULL", logger: logger)
            guard try await ledger.decode(Bool.self).lastElement() == true else { return self.migrations }
            return try await self.verify(on: connection, logger: logger)
        }
    }

    /// Applies every pending migration and returns what it applied.
    @discardableResult
    public func migrate(on client: PostgresClient, logger: Logger) async throws -> [Migration] {
        do {
            return try await client.transaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
                try await self.ensureLedger(on: connection, logger: logger)
                let pending = try await self.verify(on: connection, logger: logger)
                for migration in pending {
                    logger.info("applying migration", metadata: ["migration": "\(migration.name)"])
                    for statement in SQLScript.statements(in: migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        """
                        INSERT INTO public.eventicket_migrations (version, name, checksum)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                        """,
                        logger: logger
                    )
                }
                return pending
            }
        } catch {
            let inner = error.unwrappingTransaction
            if inner is MigrationError { throw inner }
            throw MigrationError(reason: "migration failed: \(error.diagnosticDescription)", isConnectionFailure: error.isConnectionFailure)
        }
    }

    /// Creates the ledger; only under `migrate`'s advisory lock, so no two sessions race to it.
    private func ensureLedger(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS public.eventicket_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
    }

    private func verify(on connection: PostgresConnection, logger: Logger) async throws -> [Migration] {
        var applied: [Int: (String, String)] = [:]
        let rows = try await connection.query(
            "SELECT version, name, checksum FROM public.eventicket_migrations", logger: logger)
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            applied[version] = (name, checksum)
        }
        for (version, (name, checksum)) in applied {
            guard let file = migrations.first(where: { $0.version == version }) else {
                throw MigrationError(reason: "applied migration \(name) is missing from the migrations folder")
            }
            guard file.checksum == checksum else {
                throw MigrationError(reason: "applied migration \(name) was edited after it was applied (checksum \(checksum) in the database, \(file.checksum) on disk); add a new migration instead")
            }
        }
        return migrations.filter { applied[$0.version] == nil }
    }

    /// FNV-1a, 64 bits, as hex: enough to notice an edited file.
    static func checksum(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    static let lockKey: Int64 = 0x4576_656E_5469_636B // "EvenTick"
}

/// Migrations could not be applied, or the database does not match the files.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    /// The connection failed, not the migrations: trying again may succeed.
    public var isConnectionFailure: Bool
    public init(reason: String, isConnectionFailure: Bool = false) {
        self.reason = reason
        self.isConnectionFailure = isConnectionFailure
    }
    public var description: String { reason }
}
