import EvenTicketApp
import Foundation
import Logging
import Synchronization
import Testing

/// `--log-format json`: one JSON object per record and line.
@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// The lines a logger writes, and the logger.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    static func logger(level: Logger.Level = .info, provider: Logger.MetadataProvider? = nil) -> (Logger, Lines) {
        let lines = Lines()
        var logger = Logger(label: "eventicket.test") { label in
            JSONLogHandler(label: label, metadataProvider: provider, write: { lines.append($0) })
        }
        logger.logLevel = level
        return (logger, lines)
    }

    static func object(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "the disk is \"full\"" }
    }

    @Test func aRecordIsOneLineOfJSONWithItsFieldsAndMetadataInTheirShape() throws {
        let provider = Logger.MetadataProvider { ["trace": "abc"] }
        var (logger, lines) = Self.logger(provider: provider)
        logger[metadataKey: "consumer"] = "payment"
        logger[metadataKey: "count"] = "1"
        logger.notice("a batch failed\nand \"was\" retried", error: Failure(), metadata: [
            "count": "3",
            "ids": .array(["a", "b"]),
            "nested": .dictionary(["depth": .stringConvertible(2), "ok": "yes"]),
        ])
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line, the message's newline escaped")
        let object = try Self.object(line)
        #expect(object["level"] as? String == "notice")
        #expect(object["logger"] as? String == "eventicket.test")
        #expect(object["message"] as? String == "a batch failed\nand \"was\" retried")
        #expect(object["source"] as? String == "EvenTicketTests")
        let time = try #require(object["time"] as? String)
        #expect(try Date(time, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) <= Date())
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["consumer"] as? String == "payment")
        #expect(metadata["count"] as? String == "3", "the record's own metadata wins over the logger's")
        #expect(metadata["trace"] as? String == "abc", "the provider's metadata is merged")
        #expect(metadata["ids"] as? [String] == ["a", "b"])
        #expect((metadata["nested"] as? [String: Any])?["depth"] as? String == "2")
        #expect(metadata["error.message"] as? String == "the disk is \"full\"")
        #expect((metadata["error.type"] as? String)?.hasSuffix("Failure") == true)
    }

    @Test func aRecordWithoutMetadataHasNoMetadataFieldAndLevelsFilter() throws {
        let (logger, lines) = Self.logger(level: .notice)
        logger.info("not written")
        logger.warning("written")
        #expect(lines.all.count == 1)
        let object = try Self.object(try #require(lines.all.first))
        #expect(object["message"] as? String == "written")
        #expect(object["metadata"] == nil)
        #expect(Set(object.keys) == ["time", "level", "logger", "message", "source"])
    }
}
