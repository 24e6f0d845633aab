import ArgumentParser
import Database
import EvenTicketApp
import Foundation
import Orchestrator
import Ordering

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an order (with its saga) or a saga as JSON.")

    @OptionGroup var options: OperatorOptions
    @Argument(help: "An order id or a saga id.") var id: String

    func validate() throws {
        guard UUID(uuidString: id) != nil else { throw ValidationError("'\(id)' is not an order or saga id (a UUID)") }
    }

    func run() async throws {
        let id = UUID(uuidString: self.id)!
        try await options.withDatabase("eventicket.status") { client, logger in
            let sagas = SagaQueries(client: client)
            if let order = try await client.withConnection({ try await OrderStore().find(id, on: $0, logger: logger) }) {
                let saga = try await sagas.saga(order.sagaId, logger: logger)
                printJSON(OrderStatus(order: order, saga: saga), pretty: true)
            } else if let saga = try await sagas.saga(id, logger: logger) {
                printJSON(saga, pretty: true)
            } else {
                throw NotFound(description: "no order or saga with id \(id)")
            }
        }
    }

    struct OrderStatus: Encodable {
        var order: Order
        var saga: SagaQueries.SagaView?
    }
}
