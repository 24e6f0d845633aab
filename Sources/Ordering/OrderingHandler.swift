import EvenTicketContracts
import Logging
import MessageBus
import PostgresNIO

/// The ordering service's consumer: records each saga's outcome on its order.
public struct OrderingHandler: MessageHandler {
    let store = OrderStore()

    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        switch envelope.typeName {
        case OrderConfirmed.typeName:
            let event = try envelope.decode(OrderConfirmed.self)
            try await store.settle(event.orderID, status: .confirmed, reason: nil, on: connection, logger: logger)
        case OrderRejected.typeName:
            let event = try envelope.decode(OrderRejected.self)
            try await store.settle(event.orderID, status: .rejected, reason: event.reason, on: connection, logger: logger)
        default:
            throw PermanentFailure.unknownType(envelope, queue: .ordering)
        }
        return []
    }
}
