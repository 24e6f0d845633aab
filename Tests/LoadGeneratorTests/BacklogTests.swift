import Foundation
import Testing
@testable import LoadGenerator

@Suite("Backlog")
struct BacklogTests {
    @Test("the backlog is queued in chunks of 100000 rows, the last one what is left", arguments: [
        (0, [Int]()), (1, [1]), (100_000, [100_000]), (250_000, [100_000, 100_000, 50_000]),
        (1_000_000, Array(repeating: 100_000, count: 10)),
    ])
    func chunks(total: Int, expected: [Int]) {
        #expect(Backlog.chunks(total: total) == expected)
        #expect(Backlog.chunks(total: total).reduce(0, +) == total)
    }

    @Test("the report names the backlog in its text only when there is one, and always in its JSON")
    func report() throws {
        #expect(!BenchReportTests.sample().text.contains("backlog"))
        let report = BenchReportTests.sample(backlog: 1_000_000)
        #expect(report.text.contains("backlog: 1000000 messages queued for a day later"))
        let json = String(decoding: try BenchReport.makeEncoder().encode(report), as: UTF8.self)
        #expect(json.contains("\"backlog\" : 1000000"))
        #expect(try BenchReport.makeDecoder().decode(BenchReport.self, from: Data(json.utf8)) == report)
    }
}
