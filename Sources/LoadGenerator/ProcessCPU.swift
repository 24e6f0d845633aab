import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time of processes, read from `/proc` (Linux), and of the bench itself (`getrusage`).
public enum ProcessCPU {
    /// Clock ticks per second, the unit of `/proc/PID/stat` times.
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The fields of `/proc/PID/stat` the bench needs.
    struct Stat: Equatable {
        var parent: Int32
        /// User plus system time, in clock ticks.
        var ticks: UInt64
        /// User plus system time of its children that have exited and been waited for.
        var reapedChildTicks: UInt64 = 0
    }

    /// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may hold
    /// spaces, so fields are counted from the last `)`.
    static func parseStat(_ line: Substring) -> Stat? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        // After ")": state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
        let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 14, let parent = Int32(fields[1]), let user = UInt64(fields[11]), let system = UInt64(fields[12]),
              let childUser = UInt64(fields[13]), let childSystem = UInt64(fields[14]) else {
            return nil
        }
        return Stat(parent: parent, ticks: user + system, reapedChildTicks: childUser + childSystem)
    }

    static func stat(of pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(Substring(text))
    }

    /// CPU seconds used so far by each of `pids` that still exists, added up.
    public static func seconds(of pids: [Int32]) -> Double {
        Double(pids.compactMap { stat(of: $0)?.ticks }.reduce(0, +)) / ticksPerSecond
    }

    /// CPU seconds used so far by `root` and every process whose parent is `root` (a postmaster
    /// and its backends), leaving out `excluded` (the bench's own backends). Children that have
    /// exited count too, through the root's time of its reaped children, so that the figure
    /// only grows: a backend that ends within a window (an autovacuum worker, a connection a
    /// pool closes) would otherwise take its time with it, and one that began before the
    /// window would even subtract what it had used by then.
    public static func treeSeconds(root: Int32, excluding excluded: Set<Int32> = []) -> Double? {
        guard let rootStat = stat(of: root) else { return nil }
        var ticks = rootStat.ticks + rootStat.reapedChildTicks
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != root, !excluded.contains(pid), let process = stat(of: pid), process.parent == root else { continue }
            ticks += process.ticks
        }
        return Double(ticks) / ticksPerSecond
    }

    /// The whole machine's CPU time so far, in clock ticks summed over its CPUs: `busy` is every
    /// state but idle and waiting for I/O.
    struct MachineTicks: Equatable, Sendable {
        var busy: UInt64
        var ioWait: UInt64
        var total: UInt64

        /// How the CPUs' time was spent between `earlier` and this reading; nil when no tick passed.
        func shares(since earlier: MachineTicks) -> MachineShares? {
            guard total > earlier.total, busy >= earlier.busy, ioWait >= earlier.ioWait else { return nil }
            let elapsed = Double(total - earlier.total)
            return MachineShares(busy: min(Double(busy - earlier.busy) / elapsed, 1), ioWait: min(Double(ioWait - earlier.ioWait) / elapsed, 1))
        }
    }

    /// Shares of the machine's CPU time, 0 to 1.
    struct MachineShares: Equatable, Sendable {
        /// Running anything.
        var busy: Double
        /// Idle while a process waited for the disk: with the CPUs less busy, a sign that the
        /// system was held up by I/O rather than by CPU.
        var ioWait: Double
    }

    /// Parses the aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq
    /// steal (guest time is already counted in user). Steal counts as busy: the CPU was not
    /// available to this machine.
    static func parseMachineStat(_ text: Substring) -> MachineTicks? {
        guard let line = text.split(separator: "\n", maxSplits: 1).first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count >= 5 else { return nil }
        let total = values.reduce(0, +)
        let idle = values[3] + values[4]
        return MachineTicks(busy: total - idle, ioWait: values[4], total: total)
    }

    /// The machine's CPU ticks now; nil where `/proc/stat` cannot be read (not Linux).
    static func machineTicks() -> MachineTicks? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return parseMachineStat(Substring(text))
    }

    /// CPU seconds (user plus system) this process has used.
    public static func selfSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
