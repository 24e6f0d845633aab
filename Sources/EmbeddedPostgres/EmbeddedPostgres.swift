import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway local PostgreSQL server for `eventicket dev`, tests and benchmarks.
///
/// It runs `initdb` and `pg_ctl` from the local PostgreSQL installation, listening on a free
/// loopback port and a private socket folder. PostgreSQL refuses to run as root, so as root
/// the server runs as the `postgres` user (through `runuser`) in folders that user owns.
public final class EmbeddedPostgres: Sendable {
    public struct Options: Sendable {
        /// Where the cluster lives; nil makes a temporary one that ``stop()`` deletes.
        public var dataDirectory: String?
        /// Delete an existing cluster in ``dataDirectory`` first.
        public var fresh: Bool
        /// Durable commits. Off only for tests, where speed matters more than crash safety.
        public var fsync: Bool
        /// Extra `-c name=value` server settings.
        public var settings: [String: String]

        public init(dataDirectory: String? = nil, fresh: Bool = false, fsync: Bool = true, settings: [String: String] = [:]) {
            self.dataDirectory = dataDirectory
            self.fresh = fresh
            self.fsync = fsync
            self.settings = settings
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable`
    public let url: String
    public let port: Int
    public let dataDirectory: String
    let baseDirectory: String
    let temporary: Bool
    let binDirectory: String
    let runAsPostgres: Bool

    private init(url: String, port: Int, dataDirectory: String, baseDirectory: String, temporary: Bool, binDirectory: String, runAsPostgres: Bool) {
        self.url = url
        self.port = port
        self.dataDirectory = dataDirectory
        self.baseDirectory = baseDirectory
        self.temporary = temporary
        self.binDirectory = binDirectory
        self.runAsPostgres = runAsPostgres
    }

    /// Initialises (if needed) and starts a server; returns once it accepts connections.
    public static func start(_ options: Options = .init(), logger: Logger) throws -> EmbeddedPostgres {
        let binDirectory = try findBinDirectory()
        let runAsPostgres = getuid() == 0
        let fileManager = FileManager.default
        let base: String
        let temporary = options.dataDirectory == nil
        if let dataDirectory = options.dataDirectory {
            base = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
            try requireOwnFolder(base)
            try requireNotInUse(base)
            if options.fresh, fileManager.fileExists(atPath: base + "/data") {
                _ = try? run(binDirectory + "/pg_ctl", ["-D", base + "/data", "-m", "immediate", "stop"], asPostgres: runAsPostgres)
                try fileManager.removeItem(atPath: base + "/data")
                try? fileManager.removeItem(atPath: base + "/server.log")
            }
        } else {
            reapAbandoned(binDirectory: binDirectory, runAsPostgres: runAsPostgres, logger: logger)
            base = fileManager.temporaryDirectory.appendingPathComponent(temporaryPrefix + UUID().uuidString.prefix(8)).path
        }
        let data = base + "/data"
        try fileManager.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        try String(getpid()).write(toFile: base + "/" + ownerFile, atomically: true, encoding: .utf8)
        if runAsPostgres { try run("/bin/chown", ["-R", "postgres:postgres", base], asPostgres: false) }

        if !fileManager.fileExists(atPath: data + "/PG_VERSION") {
            logger.info("initialising a PostgreSQL cluster", metadata: ["path": "\(data)"])
            try run(binDirectory + "/initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"], asPostgres: runAsPostgres)
        } else if fileManager.fileExists(atPath: data + "/postmaster.pid") {
            // Left running by an earlier process that is gone (`requireNotInUse`): stop it first.
            _ = try? run(binDirectory + "/pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"], asPostgres: runAsPostgres)
        }

        let port = try freePort()
        var settings = [
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": base,
            "max_connections": "300",
            "fsync": options.fsync ? "on" : "off",
            "synchronous_commit": options.fsync ? "on" : "off",
            "full_page_writes": options.fsync ? "on" : "off",
        ]
        settings.merge(options.settings) { _, new in new }
        // pg_ctl hands these to the server through /bin/sh: each value is quoted for it (a data
        // folder with a space in its path would otherwise split).
        let serverOptions = (["-p \(port)"] + settings.sorted { $0.key < $1.key }.map { "-c \($0.key)=\(shellQuoted($0.value))" })
            .joined(separator: " ")
        logger.info("starting PostgreSQL", metadata: ["port": "\(port)", "path": "\(data)"])
        try run(binDirectory + "/pg_ctl", ["-D", data, "-l", base + "/server.log", "-w", "-t", "60", "-o", serverOptions, "start"], asPostgres: runAsPostgres)
        return EmbeddedPostgres(
            url: "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable",
            port: port, dataDirectory: data, baseDirectory: base, temporary: temporary,
            binDirectory: binDirectory, runAsPostgres: runAsPostgres)
    }

    /// `text` as one word for /bin/sh.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// What a cluster's folder holds: the cluster, the server's log, and its socket and lock.
    static func isOwnEntry(_ name: String) -> Bool {
        name == "data" || name == "server.log" || name == ownerFile || name.hasPrefix(".s.PGSQL.")
    }

    /// A kept cluster that another running process started is refused: starting it again would
    /// stop that process's server under it (and `fresh` would delete its data). One whose
    /// process is gone (killed before it could stop its server), or whose server is (a lock
    /// file left by a crash, the owner's id since taken by another process), is taken over.
    static func requireNotInUse(_ base: String) throws {
        guard let text = try? String(contentsOfFile: base + "/" + ownerFile, encoding: .utf8),
              let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              owner != getpid(), isRunning(owner),
              let lock = try? String(contentsOfFile: base + "/data/postmaster.pid", encoding: .utf8),
              let server = lock.split(separator: "\n").first.flatMap({ pid_t($0.trimmingCharacters(in: .whitespaces)) }),
              isRunning(server)
        else { return }
        throw EmbeddedPostgresError(
            "the cluster in \(base) is in use by process \(owner), which started it; stop that process first "
                + "(or give another --data-dir)")
    }

    /// A kept cluster's folder must be new, empty, or hold only what this type puts there: it
    /// is handed to the `postgres` user (`chown -R`), and `fresh` deletes the cluster in it. A
    /// folder of other files (`--data-dir .` in a checkout) is refused before anything is
    /// changed in it.
    static func requireOwnFolder(_ base: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw EmbeddedPostgresError("the data directory \(base) is a file; give a new or empty folder")
        }
        let foreign = try FileManager.default.contentsOfDirectory(atPath: base).filter { !isOwnEntry($0) }.sorted()
        guard foreign.isEmpty else {
            let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", …" : "")
            throw EmbeddedPostgresError(
                "the data directory \(base) holds files that are not a PostgreSQL cluster of EvenTicket's (\(shown)); "
                    + "give a new or empty folder (it is handed to the postgres user, and --fresh deletes the cluster in it)")
        }
    }

    /// Temporary clusters are folders with this prefix in the temporary directory.
    static let temporaryPrefix = "eventicket-pg-"
    /// The file in a cluster's folder that names the process that started it.
    static let ownerFile = "owner.pid"

    /// Stops and deletes the temporary clusters whose process is gone. A process that was
    /// killed (SIGKILL, or a test run cut short) cannot stop its server at exit; the next one
    /// to start a temporary cluster does it. Folders without an owner file (one being created
    /// right now) and those of running processes are left alone.
    static func reapAbandoned(binDirectory: String, runAsPostgres: Bool, logger: Logger) {
        let fileManager = FileManager.default
        let folder = fileManager.temporaryDirectory
        guard let names = try? fileManager.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(temporaryPrefix) {
            let base = folder.appendingPathComponent(name).path
            guard let text = try? String(contentsOfFile: base + "/" + ownerFile, encoding: .utf8),
                  let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  !isRunning(owner)
            else { continue }
            if fileManager.fileExists(atPath: base + "/data/postmaster.pid") {
                _ = try? run(binDirectory + "/pg_ctl", ["-D", base + "/data", "-m", "immediate", "-w", "stop"], asPostgres: runAsPostgres)
                // Not stopped (a server this process cannot see or signal): leave it be.
                guard !fileManager.fileExists(atPath: base + "/data/postmaster.pid") else { continue }
            }
            try? fileManager.removeItem(atPath: base)
            logger.info("removed a throwaway PostgreSQL left behind by a process that is gone", metadata: [
                "path": "\(base)", "process": "\(owner)",
            ])
        }
    }

    /// Whether a process with this id exists (one of another user's counts).
    static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Stops the server (and deletes a temporary cluster).
    public func stop(immediate: Bool = false) {
        _ = try? Self.run(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", immediate ? "immediate" : "fast", "-w", "stop"], asPostgres: runAsPostgres)
        if temporary { try? FileManager.default.removeItem(atPath: baseDirectory) }
    }

    // MARK: Helpers

    static func findBinDirectory() throws -> String {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["PG_BINDIR"] { candidates.append(configured) }
        if let output = try? run("/usr/bin/env", ["pg_config", "--bindir"], asPostgres: false) {
            candidates.append(output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let debian = "/usr/lib/postgresql"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: debian) {
            candidates += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(debian)/\($0)/bin" }
        }
        candidates += ["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") && FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") }) {
            return found
        }
        throw EmbeddedPostgresError(
            "PostgreSQL server programs (initdb, pg_ctl) were not found. Install PostgreSQL 15 or newer "
                + "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@15), "
                + "set PG_BINDIR to their folder, or point DATABASE_URL at a running server.")
    }

    /// Runs a program to completion and returns its output; as root, `asPostgres` runs it as
    /// the `postgres` user. Uses posix_spawn and waitpid directly: the server that `pg_ctl start`
    /// leaves behind must not keep the caller waiting on a pipe.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], asPostgres: Bool) throws -> String {
        let argv = asPostgres ? ["/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("eventicket-run-\(UUID().uuidString)").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // A process group of its own: a terminal's Ctrl-C goes to the foreground group, and
        // `initdb` or `pg_ctl` interrupted by it would fail the start-up that `dev` is about to
        // end cleanly itself (it stops the server once up; see `DevPostgres`).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgresError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw EmbeddedPostgresError("waiting for \(argv[0]) failed: \(String(cString: strerror(errno)))") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exitCode == 0 else {
            throw EmbeddedPostgresError("\(URL(fileURLWithPath: executable).lastPathComponent) failed (exit \(exitCode)): \(text.suffix(2000))")
        }
        return text
    }

    /// A loopback TCP port nobody listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EmbeddedPostgresError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw EmbeddedPostgresError("cannot bind a loopback socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The embedded server could not be started.
public struct EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
