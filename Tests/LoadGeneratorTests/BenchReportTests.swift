import Foundation
import Testing
@testable import LoadGenerator

@Suite("Bench report")
struct BenchReportTests {
    static func sample(calibrated: Bool = true, backlog: Int = 0, tables: [BenchReport.Table] = []) -> BenchReport {
        let latency = BenchReport.Latency(
            count: 250, meanMilliseconds: 31.5, p50: 28.1, p90: 44.2, p99: 80.9, p999: 95.3, max: 101.7,
            distribution: [.init(percentile: 0, milliseconds: 12.3), .init(percentile: 50, milliseconds: 28.1), .init(percentile: 100, milliseconds: 101.7)])
        return BenchReport(
            startedAt: Date(timeIntervalSince1970: 1_800_000_000),
            outputDirectory: ".eventicket/bench/20270115T080000Z",
            settings: .init(mode: "closed", concurrency: 32, rate: nil, maxInFlight: nil, durationSeconds: 20, warmupSeconds: 3,
                            orders: nil, settleSeconds: 30, mix: "visa=90,declined=8,timeout=2", stepTimeoutSeconds: 2,
                            orchestrators: 1, workers: 1, database: "embedded", existingSystem: nil, backlog: backlog),
            server: .init(version: "15.18", fsync: "on", synchronousCommit: "on"),
            host: .init(cpus: 2, kernelWriteback: ["dirty_background_ratio": 10, "dirty_background_bytes": 0]),
            window: .init(seconds: 20.01, ordersPlaced: 600, sagasCompleted: 590, completedSagasPerSecond: 29.48,
                          transitions: 4720, transitionsPerSecond: 235.9),
            orders: .init(scheduled: 700, placed: 700, accepted: 698, completed: 698, unfinished: 0, dropped: 0, late: 0,
                          errors: ["http_503": 2], outcomes: ["confirmed": 630, "rejected:payment_declined": 56, "rejected:payment_timeout": 12]),
            latency: .init(headline: latency, timeoutToken: nil),
            costPerSaga: .init(commits: 10.2, walFlushes: 0.35, statements: nil, walBytes: 8123.4, rowsWritten: 23.4),
            cpu: .init(systemSeconds: 12.3, postgresSeconds: nil, benchSeconds: 0.41, machineBusy: 0.953, machineIOWait: 0.012),
            calibration: calibrated ? .init(connections: 16, seconds: 5, commitsPerSecond: 9800, singleCommitMilliseconds: 3.3,
                                             sequentialCommits: 9, latencyFloorMilliseconds: 29.7) : nil,
            sagasPerCommitCeiling: calibrated ? 29.48 / 9800 : nil,
            tables: tables,
            timeline: [
                .init(second: 0, microseconds: [40_000, 20_000, 30_000], machine: .init(busy: 0.91, ioWait: 0.06)),
                .init(second: 1, microseconds: [250_500], machine: .init(busy: 0.99, ioWait: 0)),
                .init(second: 2, microseconds: [], machine: nil),
            ])
    }

    @Test("the JSON report decodes back to the same report", arguments: [true, false])
    func roundTrip(calibrated: Bool) throws {
        let report = Self.sample(calibrated: calibrated)
        let data = try BenchReport.makeEncoder().encode(report)
        let decoded = try BenchReport.makeDecoder().decode(BenchReport.self, from: data)
        #expect(decoded == report)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"completedSagasPerSecond\" : 29.48"))
        #expect(text.contains("\"startedAt\" : \"2027-01-15T08:00:00Z\""))
    }

    @Test("the text report shows the headline figures and n/a where a figure is unknown")
    func text() {
        let text = Self.sample().text
        #expect(text.contains("closed loop, 32 clients"))
        #expect(text.contains("embedded PostgreSQL 15.18, fsync on, synchronous_commit on"))
        #expect(text.contains("completed sagas"))
        #expect(text.contains("29.5/s"))
        #expect(text.contains("statements n/a"))
        #expect(text.contains("commits 10.2   WAL flushes 0.35   statements n/a"))
        #expect(text.contains("http_503 2"))
        #expect(text.contains("floor: 9 sequential commits × 3.30 ms"))
        let cpuLine = text.split(separator: "\n").first { $0.contains("PostgreSQL") && $0.contains("n/a") }
        #expect(cpuLine != nil)
    }

    @Test("a second's percentiles are nearest-rank over its orders")
    func second() {
        let values = (1...200).map { UInt32($0 * 1_000) }.shuffled()
        let second = BenchReport.Second(second: 7, microseconds: values, machine: .init(busy: 0.5, ioWait: 0.25))
        #expect(second.orders == 200)
        #expect(second.p50 == 100)
        #expect(second.p99 == 198)
        #expect(second.max == 200)
        #expect(second.machineBusy == 0.5)
        #expect(second.machineIOWait == 0.25)
        let empty = BenchReport.Second(second: 8, microseconds: [], machine: nil)
        #expect(empty.orders == 0)
        #expect(empty.p99 == nil)
    }

    @Test("the text report shows the p99 by second, the slowest seconds, and how busy the machine was")
    func timelineText() {
        let text = Self.sample().text
        #expect(text.contains("by second sent (2 s): p99 from 40.0 to 250.5 ms, median 40.0; slowest: 1 s (250.5 ms, CPU 99% busy, 0% I/O wait), 0 s (40.0 ms, CPU 91% busy, 6% I/O wait)"))
        #expect(text.contains("machine (every process)   busy 95% of 2 CPUs (by second 91% to 99%), I/O wait 1%"))
        #expect(text.contains("kernel writeback: dirty_background_bytes 0, dirty_background_ratio 10"))
    }

    @Test("a report written before the timeline existed still decodes")
    func olderReport() throws {
        var report = Self.sample()
        report.timeline = nil
        report.cpu.machineBusy = nil
        report.cpu.machineIOWait = nil
        report.host = nil
        let data = try BenchReport.makeEncoder().encode(report)
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("timeline"))
        #expect(!text.contains("kernelWriteback"))
        let decoded = try BenchReport.makeDecoder().decode(BenchReport.self, from: data)
        #expect(decoded == report)
        #expect(!decoded.text.contains("by second sent"))
    }
}
