import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The EvenTicket processes the bench runs: one `serve`, some `orchestrator`s and `worker`s,
/// each a child process of the bench's own executable with its log in the output folder.
final class SystemUnderTest: Sendable {
    let children: [ChildProcess]
    /// The HTTP API's port on 127.0.0.1.
    let port: Int
    /// The children's `GET /metrics` ports on 127.0.0.1 (`--metrics`), in start order.
    let metricsPorts: [Int]

    private init(children: [ChildProcess], port: Int, metricsPorts: [Int] = []) {
        self.children = children
        self.port = port
        self.metricsPorts = metricsPorts
    }

    /// The executable this process runs (`/proc/self/exe` on Linux).
    static func ownExecutable() throws -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError("cannot find the eventicket executable to start the system under test")
        }
        return path
    }

    /// Spawns the processes. On a failure part-way, the ones started are stopped again.
    static func start(
        databaseURL: String, configuration: BenchConfiguration, logDirectory: String, logger: Logger
    ) async throws -> SystemUnderTest {
        let executable = try ownExecutable()
        let port = try freePort()
        // The database's URL goes in the environment, not on the command line, where every
        // local user could read its password (`ps`, /proc/PID/cmdline) for the whole run.
        let common = ["--log-level", configuration.childLogLevel.rawValue] + configuration.childArguments
        let stepTimeout = String(configuration.stepTimeout)
        var plan: [(name: String, arguments: [String])] = [("serve", ["serve", "--port", String(port), "--step-timeout", stepTimeout] + common)]
        for index in 1...max(configuration.orchestrators, 1) {
            plan.append(("orchestrator-\(index)", ["orchestrator", "--step-timeout", stepTimeout] + common + configuration.consumerArguments))
        }
        for index in 1...max(configuration.workers, 1) {
            plan.append(("worker-\(index)", ["worker", "--slow-charge-delay", String(configuration.stepTimeout * 2)] + common
                + configuration.consumerArguments))
        }
        var metricsPorts: [Int] = []
        if configuration.metrics {
            for index in plan.indices {
                let metricsPort = try freePort()
                metricsPorts.append(metricsPort)
                plan[index].arguments += ["--metrics-port", String(metricsPort)]
            }
        }
        var children: [ChildProcess] = []
        do {
            for (name, arguments) in plan {
                let logPath = logDirectory + "/\(name).log"
                children.append(try ChildProcess.spawn(
                    name: name, executable: executable, arguments: arguments, environment: ["DATABASE_URL": databaseURL], logPath: logPath))
                logger.debug("started child", metadata: ["name": "\(name)", "pid": "\(children.last!.pid)"])
            }
        } catch {
            await SystemUnderTest(children: children, port: port).stop(logger: logger)
            throw error
        }
        logger.info("started the system under test", metadata: [
            "processes": "\(children.map { "\($0.name)=\($0.pid)" }.joined(separator: " "))", "port": "\(port)"])
        return SystemUnderTest(children: children, port: port, metricsPorts: metricsPorts)
    }

    /// Throws when a child has exited: the system under test is broken and the numbers would lie.
    func checkAlive() throws {
        for child in children {
            if let status = child.poll() {
                let tail = child.logTail()
                throw BenchError(
                    "\(child.name) (pid \(child.pid)) \(ChildProcess.describe(status)) during the run; its log is \(child.logPath)"
                        + (tail.isEmpty ? "" : ", ending with:\n" + tail))
            }
        }
    }

    var pids: [Int32] { children.map(\.pid) }

    /// SIGTERM to every child, up to `grace` for them to exit, then SIGKILL. Safe to call from a
    /// cancelled task: its waits do not observe cancellation.
    func stop(grace: Double = 15, logger: Logger) async {
        let running = children.filter { $0.poll() == nil }
        guard !running.isEmpty else { return }
        logger.info("stopping the system under test")
        running.forEach { $0.signal(SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, running.contains(where: { $0.poll() == nil }) {
            await uncancellableSleep(milliseconds: 50)
        }
        for child in running where child.poll() == nil {
            logger.warning("child did not stop within \(grace) s; killing it", metadata: ["name": "\(child.name)"])
            child.signal(SIGKILL)
        }
        while running.contains(where: { $0.poll() == nil }) {
            await uncancellableSleep(milliseconds: 10)
        }
        for child in running {
            guard let status = child.poll(), status != 0 else { continue }
            logger.warning("\(child.name) \(ChildProcess.describe(status)) on shutdown; see \(child.logPath)")
        }
    }

    /// A loopback TCP port nobody listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError("cannot bind a loopback socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Sleeps even in a cancelled task, for clean-up that must finish (stopping children).
func uncancellableSleep(milliseconds: Int) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { continuation.resume() }
    }
}
