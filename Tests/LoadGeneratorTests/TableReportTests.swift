import Testing
@testable import LoadGenerator

@Suite("Tables in the bench report")
struct TableReportTests {
    static let tables: [BenchReport.Table] = [
        .init(name: "bus.messages",
              before: .init(liveTuples: 1_000_000, deadTuples: 0, totalBytes: 209_715_200),
              after: .init(liveTuples: 1_000_012, deadTuples: 4321, totalBytes: 220_725_248)),
        .init(name: "orchestrator.deadlines", before: nil, after: .init(liveTuples: 3, deadTuples: 0, totalBytes: 24_576)),
    ]

    static let sizes: [(bytes: Int64, text: String)] = [
        (0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 kB"), (8192, "8.0 kB"), (1_572_864, "1.5 MB"),
        (1_048_575, "1.0 MB"), (220_725_248, "210.5 MB"), (3_221_225_472, "3.0 GB"), (5_629_499_534_213_120, "5120.0 TB"),
    ]

    @Test("sizes are shown in binary units as PostgreSQL names them", arguments: sizes)
    func size(_ size: (bytes: Int64, text: String)) {
        #expect(byteCount(size.bytes) == size.text)
    }

    @Test("each table is one line of before → after pairs, n/a for a reading that is missing")
    func text() {
        let text = BenchReportTests.sample(tables: Self.tables).text
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("Tables, start of the window → after settle") })
        let header = lines.first { $0.contains("live before→after") }
        #expect(header?.contains("dead before→after") == true && header?.contains("size before→after") == true)
        let messages = lines.first { $0.hasPrefix("  bus.messages") }
        #expect(messages?.contains("1000000 → 1000012") == true)
        #expect(messages?.contains("0 → 4321") == true)
        #expect(messages?.contains("200.0 MB → 210.5 MB") == true)
        let deadlines = lines.first { $0.hasPrefix("  orchestrator.deadlines") }
        #expect(deadlines?.contains("n/a → 3") == true)
        #expect(deadlines?.contains("n/a → 24.0 kB") == true)
    }

    @Test("the section is left out when there are no readings")
    func empty() {
        #expect(!BenchReportTests.sample().text.contains("Tables,"))
    }

    @Test("the tables survive the JSON round trip")
    func roundTrip() throws {
        let report = BenchReportTests.sample(tables: Self.tables)
        let data = try BenchReport.makeEncoder().encode(report)
        #expect(try BenchReport.makeDecoder().decode(BenchReport.self, from: data) == report)
        #expect(String(decoding: data, as: UTF8.self).contains("\"deadTuples\" : 4321"))
    }
}
