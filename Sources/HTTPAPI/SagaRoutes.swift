import Foundation
import Hummingbird
import Logging
import Orchestrator
import OrderSaga

/// `GET /sagas/{sagaId}` and `GET /sagas?state=…&limit=…&after=…`: the orchestrator's read side.
struct SagaRoutes {
    let sagas: SagaQueries
    let logger: Logger

    private struct Page: Encodable {
        var sagas: [SagaQueries.SagaView]
        /// Pass as `after` for the next page; absent on the last page.
        var nextCursor: UUID?
    }

    /// The query parameters `GET /sagas` takes.
    static let parameters = ["state", "limit", "after"]

    /// One saga for anyone with a token; listing them for operators.
    func register(reading router: some RouterMethods<BasicRequestContext>, listing operators: some RouterMethods<BasicRequestContext>) {
        router.get("/sagas/:sagaId") { _, context in
            let id = try context.parameters.uuid("sagaId", what: "saga")
            guard let saga = try await sagas.saga(id, logger: logger) else { throw Problem.notFound("no saga with id \(id)") }
            return JSONResponse.make(saga)
        }
        operators.get("/sagas") { request, _ in
            // A parameter the list does not take (a misspelled one would widen the list without
            // a word), or one given twice (only one would count), is an error. Hummingbird
            // decodes the values; the names are decoded here (`st%61te` is `state`).
            var query: [String: String] = [:]
            for parameter in request.uri.queryParameters where !parameter.key.isEmpty { // `?&limit=5` has an empty one
                let name = String(parameter.key).removingPercentEncoding ?? String(parameter.key)
                guard Self.parameters.contains(name) else {
                    throw Problem(.badRequest, "Invalid query",
                                  detail: "\(name) is not a parameter of this list (\(Self.parameters.joined(separator: ", ")))", field: name)
                }
                guard query.updateValue(String(parameter.value), forKey: name) == nil else {
                    throw Problem(.badRequest, "Invalid query", detail: "\(name) is given more than once", field: name)
                }
            }
            var state: SagaState?
            if let text = query["state"] {
                guard let parsed = SagaState(rawValue: text) else {
                    let states = SagaState.allCases.map(\.rawValue).joined(separator: ", ")
                    throw Problem(.badRequest, "Invalid query", detail: "state must be one of \(states)", field: "state")
                }
                state = parsed
            }
            var limit = 50
            if let text = query["limit"] {
                guard let parsed = Int(text), (1...500).contains(parsed) else {
                    throw Problem(.badRequest, "Invalid query", detail: "limit must be an integer from 1 to 500", field: "limit")
                }
                limit = parsed
            }
            var after: UUID?
            if let text = query["after"] {
                guard let parsed = UUID(uuidString: text) else {
                    throw Problem(.badRequest, "Invalid query", detail: "after must be a saga id", field: "after")
                }
                after = parsed
            }
            let page = try await sagas.list(state: state, limit: limit, after: after, logger: logger)
            return JSONResponse.make(Page(sagas: page, nextCursor: page.count == limit ? page.last?.sagaId : nil))
        }
    }
}
