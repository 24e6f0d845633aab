import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// The ordering service's consumer: records on their orders the saga outcomes that
/// orchestrators before migration `0018` published as `OrderConfirmed` and `OrderRejected`
/// (and that an operator may still send again from the dead letters). Orchestrators now record
/// an outcome themselves, in the statement that stores the saga's last transition
/// (``OrderSettlement``).
public struct OrderingHandler: MessageHandler {
    let store = OrderStore()

    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    /// Settles every order of the batch in one statement. Only a pending order changes, so
    /// the first outcome recorded for an order is the one that stays.
    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        var outcomes: [OrderStore.Outcome] = []
        var seen: Set<UUID> = []
        for envelope in envelopes {
            let outcome: OrderStore.Outcome
            switch envelope.typeName {
            case OrderConfirmed.typeName:
                let event = try envelope.decode(OrderConfirmed.self)
                outcome = .init(orderID: event.orderID, status: .confirmed, reason: nil)
            case OrderRejected.typeName:
                let event = try envelope.decode(OrderRejected.self)
                outcome = .init(orderID: event.orderID, status: .rejected, reason: event.reason)
            default:
                throw PermanentFailure.unknownType(envelope, queue: .ordering)
            }
            if seen.insert(outcome.orderID).inserted { outcomes.append(outcome) }
        }
        try await store.settle(outcomes, on: connection, logger: logger)
        return []
    }
}
