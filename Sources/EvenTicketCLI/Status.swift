import ArgumentParser
import Database
import EvenTicketApp
import Foundation
import Orchestrator
import Ordering

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an order (with its saga) or a saga as JSON.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @Argument(help: "An order id or a saga id.") var id: String

    func validate() throws {
        guard UUID(uuidString: id) != nil else { throw ValidationError("'\(id)' is not an order or saga id (a UUID)") }
    }

    func run() async throws {
        let id = UUID(uuidString: self.id)!
        let url = try database.resolve()
        let logger = logging.makeLogger("eventicket.status")
        try await reportingFailures {
            try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, reachTimeout: .seconds(5)) { client in
                let pending = try await Migrator().pending(on: client, logger: logger)
                guard pending.isEmpty else {
                    throw MigrationError(reason: "the database has pending migrations (\(pending.map(\.name).joined(separator: ", "))); run `eventicket migrate`")
                }
                let sagas = SagaQueries(client: client)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                if let order = try await client.withConnection({ try await OrderStore().find(id, on: $0, logger: logger) }) {
                    let saga = try await sagas.saga(order.sagaId, logger: logger)
                    print(String(decoding: try encoder.encode(OrderStatus(order: order, saga: saga)), as: UTF8.self))
                } else if let saga = try await sagas.saga(id, logger: logger) {
                    print(String(decoding: try encoder.encode(saga), as: UTF8.self))
                } else {
                    throw NotFound(description: "no order or saga with id \(id)")
                }
            }
        }
    }

    struct OrderStatus: Encodable {
        var order: Order
        var saga: SagaQueries.SagaView?
    }

    struct NotFound: Error, CustomStringConvertible {
        var description: String
    }
}
