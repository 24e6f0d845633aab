import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Inventory's consumer: holds and releases tickets, one reservation per saga.
///
/// A batch is handled in rounds (see ``Swift/Array/roundsBySaga``). Per round it locks the
/// sagas' reservations (for the first round, the claim does: ``ClaimedReservations``), then
/// every ticket type the round touches in id order (so concurrent
/// batches never oversell and never deadlock each other), works out each message in delivery
/// order against those locked counts, and writes the new counts and reservations back in one
/// statement (for the last round, the statement that also publishes the replies). A release
/// that arrives before its reservation leaves a `released` marker, so the late reservation is
/// refused instead of holding tickets for a rejected order.
public struct InventoryHandler: SagaRowsHandler {
    public typealias SagaRows = ClaimedReservations

    let store = ReservationStore()

    public init() {}

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatch([envelope], connection: connection, logger: logger)
    }

    public func handleBatch(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await handleBatchDeferringWrites(envelopes, connection: connection, logger: logger).writingNow(on: connection, logger: logger)
    }

    /// Each round's writes run before the next round locks (``HandledBatch/inRounds(_:on:logger:_:)``).
    public func handleBatchDeferringWrites(_ envelopes: [Envelope], connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        try await handle(envelopes, claimed: nil, connection: connection, logger: logger)
    }

    /// As ``handleBatchDeferringWrites(_:connection:logger:)``, with the reservations the claim
    /// locked: the first round uses them, a later one (a saga's second message) locks again.
    public func handleBatchDeferringWrites(
        _ envelopes: [Envelope], sagaRows: [UUID: ClaimedReservations.Row], connection: PostgresConnection, logger: Logger
    ) async throws -> HandledBatch {
        try await handle(envelopes, claimed: sagaRows, connection: connection, logger: logger)
    }

    private func handle(_ envelopes: [Envelope], claimed: [UUID: ClaimedReservations.Row]?, connection: PostgresConnection,
                        logger: Logger) async throws -> HandledBatch {
        try await .inRounds(envelopes, claimed: claimed, on: connection, logger: logger) { round, claimed in
            try await handleRound(round, claimed: claimed?.mapValues { try $0.reservation.decoded() }, connection: connection, logger: logger)
        }
    }

    private enum Command {
        case reserve(ReserveTickets)
        case release(ReleaseTickets)
    }

    /// A round's replies and what it writes.
    private func handleRound(_ envelopes: [Envelope], claimed: [UUID: ReservationStore.Reservation]?, connection: PostgresConnection,
                             logger: Logger) async throws -> (messages: [OutgoingMessage], writes: ReservationStore.Writes?) {
        let commands: [(Envelope, Command)] = try envelopes.map { envelope in
            switch envelope.typeName {
            case ReserveTickets.typeName: (envelope, .reserve(try envelope.decode(ReserveTickets.self)))
            case ReleaseTickets.typeName: (envelope, .release(try envelope.decode(ReleaseTickets.self)))
            default: throw PermanentFailure.unknownType(envelope, queue: .inventory)
            }
        }
        let reservations: [UUID: ReservationStore.Reservation]
        if let claimed {
            reservations = claimed
        } else {
            reservations = try await store.lockReservations(envelopes.map(\.sagaID), on: connection, logger: logger)
        }
        var touched: Set<UUID> = []
        for (envelope, command) in commands {
            switch command {
            case .reserve(let reserve): touched.formUnion(reserve.lines.map(\.ticketTypeID))
            case .release: touched.formUnion(reservations[envelope.sagaID]?.lines.map(\.ticketTypeID) ?? [])
            }
        }
        var stock = try await store.lockTicketTypes(Array(touched), on: connection, logger: logger)
        let original = stock
        var writes = ReservationStore.Writes()
        var outgoing: [OutgoingMessage] = []
        for (envelope, command) in commands {
            let event: OutgoingMessage = switch command {
            case .reserve(let reserve):
                self.reserve(reserve, envelope: envelope, existing: reservations[envelope.sagaID], stock: &stock, writes: &writes)
            case .release(let release):
                self.release(release, envelope: envelope, existing: reservations[envelope.sagaID], stock: &stock, writes: &writes)
            }
            outgoing.append(event)
        }
        writes.available = stock.compactMapValues { $0.available }.filter { original[$0.key]?.available != $0.value }
        return (outgoing, writes)
    }

    private func reserve(
        _ command: ReserveTickets, envelope: Envelope, existing: ReservationStore.Reservation?,
        stock: inout [UUID: ReservationStore.Stock], writes: inout ReservationStore.Writes
    ) -> OutgoingMessage {
        func reply<M: Message>(_ event: M) -> OutgoingMessage { OutgoingMessage(event, sagaID: envelope.sagaID, causationID: envelope.messageID) }
        if let existing {
            switch existing.status {
            case "held": return reply(TicketsReserved(orderID: command.orderID, quantity: existing.quantity))
            case "released": return reply(TicketsUnavailable(orderID: command.orderID, reason: "reservation_cancelled"))
            default: return reply(TicketsUnavailable(orderID: command.orderID, reason: "tickets_unavailable"))
            }
        }
        let wanted = Dictionary(command.lines.map { ($0.ticketTypeID, $0.quantity) }, uniquingKeysWith: +)
        let enough = wanted.allSatisfy { id, quantity in
            guard let type = stock[id], type.eventID == command.eventID else { return false }
            return type.available >= quantity
        }
        let total = wanted.values.reduce(0, +)
        writes.newReservations.append(.init(
            sagaID: envelope.sagaID, orderID: command.orderID, status: enough ? "held" : "rejected",
            lines: command.lines, quantity: enough ? total : 0))
        guard enough else { return reply(TicketsUnavailable(orderID: command.orderID, reason: "tickets_unavailable")) }
        for (id, quantity) in wanted { stock[id]?.available -= quantity }
        return reply(TicketsReserved(orderID: command.orderID, quantity: total))
    }

    private func release(
        _ command: ReleaseTickets, envelope: Envelope, existing: ReservationStore.Reservation?,
        stock: inout [UUID: ReservationStore.Stock], writes: inout ReservationStore.Writes
    ) -> OutgoingMessage {
        func reply(_ quantity: Int) -> OutgoingMessage {
            OutgoingMessage(TicketsReleased(orderID: command.orderID, quantity: quantity), sagaID: envelope.sagaID, causationID: envelope.messageID)
        }
        guard let existing else {
            // Nothing held yet: leave a marker so a late ReserveTickets is refused. A reservation
            // committed meanwhile makes this insert fail, and the retry then releases it.
            writes.newReservations.append(.init(sagaID: envelope.sagaID, orderID: command.orderID, status: "released", lines: [], quantity: 0))
            return reply(0)
        }
        guard existing.status == "held" else { return reply(0) }
        for line in existing.lines { stock[line.ticketTypeID]?.available += line.quantity }
        writes.released.append(envelope.sagaID)
        return reply(existing.quantity)
    }
}
