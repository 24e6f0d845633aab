import EvenTicketContracts
import Foundation
import Hummingbird

/// An error answered as `application/problem+json` (RFC 9457).
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String?
    /// The request field at fault, for validation errors.
    public var field: String?

    public init(_ status: HTTPResponse.Status, _ title: String, detail: String? = nil, field: String? = nil) {
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
    }

    /// A request body that fails validation.
    static func invalid(_ field: String, _ detail: String) -> Problem {
        Problem(.unprocessableContent, "Invalid request", detail: detail, field: field)
    }

    static func notFound(_ what: String) -> Problem {
        Problem(.notFound, "Not found", detail: what)
    }

    private struct Body: Encodable {
        var type = "about:blank"
        var title: String
        var status: Int
        var detail: String?
        var field: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(body, status: status, contentType: "application/problem+json")
    }

    private var body: Body { Body(title: title, status: status.code, detail: detail, field: field) }

    /// The body as JSON, for an answer written below the router (``MalformedRequestHandler``).
    var json: String { MessageCoding.encode(body) }
}

/// JSON response bodies: keys sorted, dates in ISO 8601, written by ``MessageCoding`` (the same
/// text as `JSONEncoder` with those settings, at a fraction of the cost).
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String = "application/json") -> Response {
        make(text: MessageCoding.encode(value), status: status, headers: headers, contentType: contentType)
    }

    /// A value that writes its own JSON (the hot responses): no runtime cast to find that out.
    static func make<T: JSONWritable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String = "application/json") -> Response {
        make(text: MessageCoding.encode(value), status: status, headers: headers, contentType: contentType)
    }

    private static func make(text: String, status: HTTPResponse.Status, headers: HTTPFields, contentType: String) -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
