import Hummingbird
import Logging

/// Turns every error into a problem response: Hummingbird's own HTTP errors keep their status,
/// anything unexpected becomes a 500 whose details stay in the log.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPError {
            let title = error.status == .notFound ? "Not found" : error.status.reasonPhrase
            throw Problem(error.status, title, detail: error.body ?? "\(request.method) \(request.uri.path)")
        } catch let error as any HTTPResponseError {
            throw Problem(error.status, error.status.reasonPhrase)
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            throw Problem(.internalServerError, "Internal server error")
        }
    }
}
