import Database
import Hummingbird
import Logging

/// Turns every error into a problem response: Hummingbird's own HTTP errors keep their status,
/// anything unexpected becomes a 500 whose details stay in the log.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as any ProblemResponse {
            throw problem
        } catch let error as HTTPError {
            let methods = allowed.methods(for: request.uri.path)
            if error.status == .notFound, !methods.isEmpty, !methods.contains(request.method) {
                throw MethodNotAllowed(method: request.method, allowed: methods)
            }
            let title = error.status == .notFound ? "Not found" : error.status.reasonPhrase
            throw Problem(error.status, title, detail: error.body ?? "\(request.method) \(request.uri.path)")
        } catch let error as any HTTPResponseError {
            throw Problem(error.status, error.status.reasonPhrase)
        } catch where error.isDatabaseUnavailable {
            // Nothing was accepted (the transaction did not commit), or, for a connection lost
            // as it committed, nobody knows: the client may try again, an order with its
            // `Idempotency-Key`, which then finds it if it was stored.
            logger.warning("database unavailable", metadata: ["http.path": "\(request.uri.path)", "error": "\(error.diagnosticDescription)"])
            throw ServiceUnavailable()
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            throw Problem(.internalServerError, "Internal server error")
        }
    }
}

/// An error that answers with a problem body of its own.
protocol ProblemResponse: HTTPResponseError {}

extension Problem: ProblemResponse {}
extension MethodNotAllowed: ProblemResponse {}
extension Unauthorized: ProblemResponse {}
extension ServiceUnavailable: ProblemResponse {}

/// 503 with `Retry-After`: PostgreSQL is unreachable, out of connections, or the request's
/// statement lost a race or timed out; the request did nothing and may be sent again.
struct ServiceUnavailable: HTTPResponseError {
    var title = "Service unavailable"
    var detail = "The database is unavailable or busy; try again shortly."
    var status: HTTPResponse.Status { .serviceUnavailable }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try Problem(.serviceUnavailable, title, detail: detail)
            .response(from: request, context: context)
        response.headers[.retryAfter] = "1"
        return response
    }
}

/// 405, naming the methods the path does answer in `Allow`.
struct MethodNotAllowed: HTTPResponseError {
    var method: HTTPRequest.Method
    var allowed: [HTTPRequest.Method]
    var status: HTTPResponse.Status { .methodNotAllowed }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try Problem(.methodNotAllowed, "Method not allowed", detail: "\(method) is not allowed on \(request.uri.path)")
            .response(from: request, context: context)
        response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return response
    }
}
