import EvenTicketContracts
import Foundation
import Logging
import Synchronization

/// Writes each log record as one JSON object on a line of its own (`--log-format json`), for log
/// shippers that index fields rather than parse text:
///
///     {"time":"2026-11-30T13:01:57.123Z","level":"notice","logger":"eventicket.serve",
///      "message":"waiting for PostgreSQL","source":"EvenTicketApp","metadata":{"database":"postgres://…"}}
///
/// (one line in the output). Metadata keeps its shape: strings, arrays and objects; a value
/// logged as `CustomStringConvertible` is written as its description. `metadata` is left out
/// when there is none. Metadata is merged as swift-log's `StreamLogHandler` merges it: the
/// logger's, then its metadata provider's, then the record's own, then the error's.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// `write` receives each record's line, newline included (by default: standard error).
    public init(
        label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
        write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let explicit = event.metadata, !explicit.isEmpty { merged.merge(explicit) { $1 } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        write(Self.line(
            time: Date(), level: event.level, label: label, message: event.message.description, source: event.source,
            metadata: merged))
    }

    /// One record's line.
    static func line(
        time: Date, level: Logger.Level, label: String, message: String, source: String, metadata: Logger.Metadata
    ) -> String {
        var json = JSONWriter()
        json.object { json in
            json.member("time", time.formatted(Self.timeFormat))
            json.member("level", level.rawValue)
            json.member("logger", label)
            json.member("message", message)
            json.member("source", source)
            if !metadata.isEmpty {
                json.key("metadata")
                write(metadata, to: &json)
            }
        }
        return json.text + "\n"
    }

    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static func write(_ metadata: Logger.Metadata, to json: inout JSONWriter) {
        json.object { json in
            for key in metadata.keys.sorted() {
                json.escapedKey(key)
                write(metadata[key]!, to: &json)
            }
        }
    }

    private static func write(_ value: Logger.Metadata.Value, to json: inout JSONWriter) {
        switch value {
        case .string(let string): json.value(string)
        case .stringConvertible(let convertible): json.value(convertible.description)
        case .dictionary(let dictionary): write(dictionary, to: &json)
        case .array(let values): json.array(values) { json, value in write(value, to: &json) }
        }
    }

    /// Writes `line` to standard error, whole: records of concurrent tasks never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static let output = Mutex(())
}
