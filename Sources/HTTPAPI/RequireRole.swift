import Access
import Hummingbird
import Logging

/// Lets a request through only with `Authorization: Bearer <token>` of at least `minimum` role:
/// 401 without a valid token, 403 with one whose role is too small.
struct RequireRole<Context: RequestContext>: RouterMiddleware {
    let minimum: AccessRole
    let tokens: TokenCache
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], Self.startsWithBearer(header) else {
            throw Unauthorized(detail: "send Authorization: Bearer <token>")
        }
        let token = TextField.trimmingBlanks(Substring(header.utf8.dropFirst(7)))
        guard let role = try await tokens.role(of: token, logger: logger) else {
            throw Unauthorized(detail: "the token is unknown or revoked")
        }
        guard role >= minimum else {
            throw Problem(.forbidden, "Forbidden", detail: "this needs the \(minimum.rawValue) role; the token has \(role.rawValue)")
        }
        return try await next(request, context)
    }

    /// Whether `header` starts with `Bearer ` in any case (without lowercasing all of it).
    static func startsWithBearer(_ header: String) -> Bool {
        header.utf8.prefix(7).elementsEqual("bearer ".utf8) { byte, lower in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 == lower : byte == lower
        }
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
struct Unauthorized: HTTPResponseError {
    var detail: String
    var status: HTTPResponse.Status { .unauthorized }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try Problem(.unauthorized, "Unauthorized", detail: detail).response(from: request, context: context)
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }
}
