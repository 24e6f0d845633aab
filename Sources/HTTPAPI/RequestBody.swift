import EvenTicketContracts
import Foundation
import Hummingbird

/// Reads a JSON request body, answering malformed or mistyped JSON with a problem that names the field.
enum RequestBody {
    static let maximumSize = 64 * 1024

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumSize)
        } catch {
            throw Problem(.contentTooLarge, "Request body too large", detail: "the limit is \(maximumSize) bytes")
        }
        do {
            return try MessageCoding.decode(T.self, from: String(buffer: buffer))
        } catch let DecodingError.typeMismatch(expected, context) {
            throw Problem.invalid(path(context.codingPath), "expected \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) {
            throw Problem.invalid(path(context.codingPath), "expected \(describe(expected)), found null")
        } catch let DecodingError.keyNotFound(key, context) {
            throw Problem.invalid(path(context.codingPath + [key]), "is required")
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
