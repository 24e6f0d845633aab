import Testing
@testable import LoadGenerator

@Suite("Process CPU")
struct ProcessCPUTests {
    @Test("reads the parent and user+system ticks, even when the command name has spaces and parentheses")
    func parsesStat() {
        let line = "4242 (postgres: bench (x) idle) S 4100 4100 4100 0 -1 4194560 1183 0 0 0 37 12 0 0 20 0 1 0 1234 0 0"
        #expect(ProcessCPU.parseStat(Substring(line)) == .init(parent: 4100, ticks: 49))
        #expect(ProcessCPU.parseStat("garbage") == nil)
    }

    @Test("this process can read its own CPU time")
    func ownTime() {
        #expect(ProcessCPU.selfSeconds() >= 0)
    }
}
