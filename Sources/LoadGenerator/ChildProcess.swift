import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process of the bench, spawned with posix_spawn, its output going to a log file.
///
/// It runs in a process group of its own, so a Ctrl-C on the terminal reaches only the bench,
/// which then stops its children in order.
final class ChildProcess: Sendable {
    let name: String
    let pid: pid_t
    let logPath: String
    /// The exit status once reaped.
    private let exitStatus = Locked<Int32?>(nil)

    private init(name: String, pid: pid_t, logPath: String) {
        self.name = name
        self.pid = pid
        self.logPath = logPath
    }

    /// Starts `executable` with `arguments`; standard input is /dev/null, output goes to `logPath`.
    /// Starts `executable` with `arguments`, its output to `logPath`, in the bench's environment
    /// with `environment`'s variables set over it.
    static func spawn(
        name: String, executable: String, arguments: [String], environment: [String: String] = [:], logPath: String
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The bench ignores SIGINT/SIGTERM while it runs; the children must not inherit that.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = [executable] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { _, set in set }
        let cEnvironment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        let result = posix_spawn(&pid, executable, &actions, &attributes, cArguments, cEnvironment)
        guard result == 0 else {
            throw BenchError("cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        return ChildProcess(name: name, pid: pid, logPath: logPath)
    }

    /// The exit status if the process has ended (reaping it), nil while it runs.
    func poll() -> Int32? {
        exitStatus.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = Self.decode(raw)
            } else if result < 0, errno == ECHILD {
                status = -1
            }
            return status
        }
    }

    func signal(_ signal: Int32) {
        guard poll() == nil else { return }
        kill(pid, signal)
    }

    /// `exit N`, or `killed by signal N`.
    static func describe(_ status: Int32) -> String {
        if status < 0 { return "exited" }
        return status >= 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
    }

    private static func decode(_ raw: Int32) -> Int32 {
        (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }

    /// The last `count` lines of the child's log, to show why it died.
    func logTail(_ count: Int = 5) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(count).joined(separator: "\n")
    }
}
