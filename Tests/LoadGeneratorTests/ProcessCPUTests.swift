import Foundation
import Testing
@testable import LoadGenerator

@Suite("Process CPU")
struct ProcessCPUTests {
    @Test("reads the parent, user+system ticks and those of reaped children, even when the command name has spaces and parentheses")
    func parsesStat() {
        let line = "4242 (postgres: bench (x) idle) S 4100 4100 4100 0 -1 4194560 1183 0 0 0 37 12 5 3 20 0 1 0 1234 0 0"
        #expect(ProcessCPU.parseStat(Substring(line)) == .init(parent: 4100, ticks: 49, reapedChildTicks: 8))
        #expect(ProcessCPU.parseStat("garbage") == nil)
    }

    /// Keeps a CPU busy for `duration` of wall time.
    static func spin(for duration: Duration) -> Double {
        let end = ContinuousClock.now + duration
        var spin = 0.0
        var index = 0.0
        while ContinuousClock.now < end {
            for _ in 0..<10_000 { spin += index.squareRoot(); index += 1 }
        }
        return spin
    }

    @Test("this process can read its own CPU time, which grows as it works")
    func ownTime() {
        let before = ProcessCPU.selfSeconds()
        #expect(Self.spin(for: .milliseconds(100)) > 0)
        #expect(ProcessCPU.selfSeconds() > before)
    }

    @Test("reads the machine's busy and total ticks from /proc/stat's cpu line; idle and I/O wait are not busy")
    func parsesMachineStat() {
        let text = "cpu  4594585 10 697052 4227972 90312 0 69178 10557 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
        let ticks = ProcessCPU.parseMachineStat(Substring(text))
        let busy: UInt64 = 4_594_585 + 10 + 697_052 + 69_178 + 10_557
        let waiting: UInt64 = 4_227_972 + 90_312
        #expect(ticks == .init(busy: busy, ioWait: 90_312, total: busy + waiting))
        #expect(ProcessCPU.parseMachineStat("cpu0 1 2 3 4 5") == nil)
        #expect(ProcessCPU.parseMachineStat("intr 1 2 3") == nil)
    }

    @Test("the busy and I/O-wait shares between two readings")
    func shares() {
        let earlier = ProcessCPU.MachineTicks(busy: 1_000, ioWait: 30, total: 5_000)
        #expect(ProcessCPU.MachineTicks(busy: 1_150, ioWait: 40, total: 5_200).shares(since: earlier) == .init(busy: 0.75, ioWait: 0.05))
        #expect(ProcessCPU.MachineTicks(busy: 1_000, ioWait: 30, total: 5_000).shares(since: earlier) == nil)
    }

    @Test("the host's CPUs, and the kernel's writeback settings where /proc/sys/vm has them")
    func host() {
        let host = BenchReport.Host.current()
        #expect(host.cpus >= 1)
        let settings = host.kernelWriteback
        if FileManager.default.fileExists(atPath: "/proc/sys/vm/dirty_expire_centisecs") {
            #expect(settings.count == 4)
        } else {
            #expect(settings.isEmpty)
        }
        #expect(Set(settings.keys).isSubset(of: ["dirty_background_bytes", "dirty_background_ratio", "dirty_expire_centisecs", "dirty_writeback_centisecs"]))
    }

    @Test("this machine's ticks can be read, and they grow")
    func machineTicks() throws {
        let first = try #require(ProcessCPU.machineTicks())
        // 100 ms of work: 10 ticks of a 100 Hz clock, busy ones.
        #expect(Self.spin(for: .milliseconds(100)) > 0)
        let second = try #require(ProcessCPU.machineTicks())
        #expect(second.total > first.total)
        #expect(second.busy > first.busy)
        #expect(second.busy <= second.total)
    }

    @Test("a tree's time keeps the time of a child that has exited")
    func treeKeepsExitedChildren() throws {
        // A root whose only child burned 0.4 s of CPU and exited before the reading; the root
        // itself uses a few hundredths of a second.
        let script = """
            import os, sys, time
            pid = os.fork()
            if pid == 0:
                end = time.process_time() + 0.4
                while time.process_time() < end: pass
                os._exit(0)
            os.waitpid(pid, 0)
            print("ready", flush=True)
            time.sleep(10)
            """
        let root = Process()
        root.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        root.arguments = ["python3", "-c", script]
        let output = Pipe()
        root.standardOutput = output
        try root.run()
        defer { kill(root.processIdentifier, SIGKILL); root.waitUntilExit() }
        let ready = output.fileHandleForReading.readData(ofLength: 6)
        #expect(String(decoding: ready, as: UTF8.self) == "ready\n")
        let seconds = try #require(ProcessCPU.treeSeconds(root: root.processIdentifier))
        #expect(seconds >= 0.35, "the exited child's 0.4 s are missing: \(seconds) s")
    }
}
