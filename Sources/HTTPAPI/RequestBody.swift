import EvenTicketContracts
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1

/// Reads a JSON request body, answering malformed or mistyped JSON with a problem that names the field.
enum RequestBody {
    static let maximumSize = 64 * 1024

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let text = try await collect(request)
        return try reading { try MessageCoding.decode(T.self, from: text) }
    }

    /// As the generic ``decode(_:from:)``, for a body that reads itself (chosen at compile time).
    static func decode<T: JSONReadable>(_ type: T.Type, from request: Request) async throws -> T {
        let text = try await collect(request)
        return try reading { try MessageCoding.decode(T.self, from: text) }
    }

    /// The body as text, once it is known to be JSON by its `Content-Type`, within the size
    /// limit, and valid UTF-8 (which JSON must be; replacing bad bytes would store altered text).
    private static func collect(_ request: Request) async throws -> String {
        guard let contentType = request.headers[.contentType], isJSON(contentType) else {
            throw Problem(.unsupportedMediaType, "Unsupported media type",
                          detail: "send the body as JSON with Content-Type: application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumSize)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "Request body too large", detail: "the limit is \(maximumSize) bytes")
        } catch is HTTPParserError {
            // A chunk that is not valid chunked encoding, or a body that ended before its
            // Content-Length: the parser cannot go on, and the connection is closed after this.
            throw Problem(.badRequest, "Malformed request", detail: "the request body was malformed or cut short")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw Problem(.badRequest, "Malformed JSON", detail: "the request body is not valid UTF-8")
        }
        return text
    }

    /// `application/json` or a `+json` type, any parameters (`; charset=utf-8`) aside.
    static func isJSON(_ contentType: String) -> Bool {
        if contentType == "application/json" { return true } // what clients send, checked without a copy
        let mediaType = (contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .lowercased().filter { $0 != " " && $0 != "\t" }
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// Runs `decode`, answering its decoding errors with a problem that names the field.
    private static func reading<T>(_ decode: () throws -> T) throws -> T {
        do {
            return try decode()
        } catch let DecodingError.typeMismatch(expected, context) where context.codingPath.isEmpty {
            throw Problem(.unprocessableContent, "Invalid request", detail: "the request body must be \(describe(expected))")
        } catch let DecodingError.typeMismatch(expected, context) {
            throw Problem.invalid(path(context.codingPath), "expected \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) where context.codingPath.isEmpty {
            throw Problem(.unprocessableContent, "Invalid request", detail: "the request body must be \(describe(expected)), not null")
        } catch let DecodingError.valueNotFound(expected, context) {
            throw Problem.invalid(path(context.codingPath), "expected \(describe(expected)), found null")
        } catch let DecodingError.keyNotFound(key, context) {
            throw Problem.invalid(path(context.codingPath + [key]), "is required")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            // Well-formed JSON whose value cannot be read: a number that is not an integer
            // (1.5, 1e30, or one beyond 64 bits), a field the request does not have, or one
            // given twice.
            let detail = switch context.debugDescription {
            case JSONObjectReader.unknownKey: "is not a field of this request"
            case JSONObjectReader.repeatedKey: "is given more than once"
            default: "expected an integer"
            }
            throw Problem.invalid(path(context.codingPath), detail)
        } catch {
            throw Problem(.badRequest, "Malformed JSON", detail: "the request body is not valid JSON")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined().trimmingPrefix(".").description
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        default: "\(type)".lowercased().contains("array") ? "an array" : "an object"
        }
    }
}

extension Parameters {
    /// A path parameter that must be a UUID; anything else cannot name a resource.
    func uuid(_ name: String, what: String) throws -> UUID {
        guard let text = get(name), let id = UUID(uuidString: text) else {
            throw Problem.notFound("no \(what) with id \(get(name) ?? "")")
        }
        return id
    }
}
