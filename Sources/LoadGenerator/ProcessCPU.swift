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
    }

    /// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may hold
    /// spaces, so fields are counted from the last `)`.
    static func parseStat(_ line: Substring) -> Stat? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        // After ")": state(3) ppid(4) … utime(14) stime(15).
        let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 12, let parent = Int32(fields[1]), let user = UInt64(fields[11]), let system = UInt64(fields[12]) else {
            return nil
        }
        return Stat(parent: parent, ticks: user + system)
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
    /// and its backends), leaving out `excluded` (the bench's own backends).
    public static func treeSeconds(root: Int32, excluding excluded: Set<Int32> = []) -> Double? {
        guard let rootStat = stat(of: root) else { return nil }
        var ticks = rootStat.ticks
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != root, !excluded.contains(pid), let process = stat(of: pid), process.parent == root else { continue }
            ticks += process.ticks
        }
        return Double(ticks) / ticksPerSecond
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
