import EvenTicketApp
import Logging
import Synchronization
import Testing

/// `--log-format text`: `StreamLogHandler`'s lines, the metadata formatted only when written.
@Suite("Text log lines")
struct TextLogHandlerTests {
    /// What a handler wrote.
    final class Output: TextOutputStream, Sendable {
        private let text = Mutex("")
        func write(_ string: String) { text.withLock { $0 += string } }
        /// The lines, each without its leading timestamp.
        var lines: [String] {
            text.withLock { $0 }.split(separator: "\n").map { String($0.drop { $0 != " " }.dropFirst()) }
        }
    }

    static func log(into output: Output, _ handler: @escaping @Sendable (String, Output) -> any LogHandler) {
        var logger = Logger(label: "eventicket.test") { handler($0, output) }
        logger[metadataKey: "consumer"] = "payment"
        logger[metadataKey: "connection"] = "1"
        logger.debug("not written at info")
        logger[metadataKey: "connection"] = "2"
        logger[metadataKey: "gone"] = "x"
        logger[metadataKey: "gone"] = nil
        logger.notice("a batch failed", metadata: ["count": "3"])
        logger.info("and another")
    }

    @Test func linesAreStreamLogHandlersWithTheMetadataOfTheirMoment() {
        let text = Output(), stream = Output()
        Self.log(into: text) { label, output in
            TextLogHandler(writer: StreamLogHandler(label: label, stream: output, metadataProvider: nil))
        }
        Self.log(into: stream) { label, output in StreamLogHandler(label: label, stream: output, metadataProvider: nil) }
        #expect(text.lines == [
            "notice eventicket.test: connection=2 consumer=payment count=3 [EvenTicketTests] a batch failed",
            "info eventicket.test: connection=2 consumer=payment [EvenTicketTests] and another",
        ])
        #expect(text.lines == stream.lines)
    }

    @Test func theLevelAndTheProviderReachTheWriter() {
        let output = Output()
        var handler = TextLogHandler(writer: StreamLogHandler(label: "eventicket.test", stream: output, metadataProvider: nil))
        handler.logLevel = .debug
        handler.metadataProvider = Logger.MetadataProvider { ["trace": "abc"] }
        let logger = Logger(label: "eventicket.test") { _ in handler }
        #expect(logger.logLevel == .debug)
        logger.debug("written at debug")
        #expect(output.lines == ["debug eventicket.test: trace=abc [EvenTicketTests] written at debug"])
    }
}
