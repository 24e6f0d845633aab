import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Payment's consumer: at most one charge per saga, refunds, and the gateway's slow answers.
///
/// Every movement of money is written to `payment.gateway_ledger` in the same transaction as
/// the charge's new status, so "money kept" is always the ledger's sum for a saga. A batch is
/// handled in rounds (see ``Swift/Array/roundsBySaga``): per round, one locking read of the
/// sagas' charges (for the first round, the claim's own: ``ClaimedCharges``), then one
/// statement that inserts new charges, updates statuses and records the ledger (for the last
/// round, the statement that also publishes the replies).
public struct PaymentHandler: SagaRowsHandler {
    public typealias SagaRows = ClaimedCharges

    let configuration: PaymentConfiguration
    let gateway = SimulatedGateway()
    let store = ChargeStore()

    public init(configuration: PaymentConfiguration = .init()) {
        self.configuration = configuration
    }

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

    /// As ``handleBatchDeferringWrites(_:connection:logger:)``, with the charges the claim
    /// locked: the first round uses them, a later one (a saga's second message) locks again.
    public func handleBatchDeferringWrites(
        _ envelopes: [Envelope], sagaRows: [UUID: ClaimedCharges.Row], connection: PostgresConnection, logger: Logger
    ) async throws -> HandledBatch {
        try await handle(envelopes, claimed: sagaRows.mapValues(\.charge), connection: connection, logger: logger)
    }

    private func handle(_ envelopes: [Envelope], claimed: [UUID: ChargeStore.Charge]?, connection: PostgresConnection, logger: Logger) async throws -> HandledBatch {
        try await .inRounds(envelopes, claimed: claimed, on: connection, logger: logger) { round, claimed in
            let existing: [UUID: ChargeStore.Charge]
            if let claimed {
                existing = claimed
            } else {
                existing = try await store.lock(round.map(\.sagaID), on: connection, logger: logger)
            }
            var writes = ChargeStore.Writes()
            var outgoing: [OutgoingMessage] = []
            for envelope in round {
                outgoing += try decide(envelope, existing: existing[envelope.sagaID], writes: &writes)
            }
            return (outgoing, writes)
        }
    }

    /// What one message does, given the saga's charge (if any) as locked.
    private func decide(_ envelope: Envelope, existing: ChargeStore.Charge?, writes: inout ChargeStore.Writes) throws -> [OutgoingMessage] {
        let sagaID = envelope.sagaID
        func reply<M: Message>(_ event: M, delay: Duration = .zero) -> [OutgoingMessage] {
            [OutgoingMessage(event, sagaID: sagaID, causationID: envelope.messageID, delay: delay)]
        }
        switch envelope.typeName {
        case ChargePayment.typeName:
            let command = try envelope.decode(ChargePayment.self)
            if let charge = existing {
                // A redelivered or repeated command: answer with what happened, never charge twice.
                switch charge.status {
                case "charged", "refunded":
                    return reply(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: charge.amountCents))
                case "failed":
                    return reply(PaymentFailed(orderID: command.orderID, reason: charge.failureReason ?? "payment_declined"))
                case "cancelled":
                    return reply(PaymentFailed(orderID: command.orderID, reason: "payment_cancelled"))
                default:
                    return [] // pending or refunding: the gateway's answer is on its way
                }
            }
            var charge = ChargeStore.Charge(sagaID: sagaID, orderID: command.orderID, id: .timeOrdered(), status: "charged",
                                            amountCents: command.amountCents, currency: command.currency)
            switch gateway.decide(token: command.paymentToken, attempt: envelope.attempt) {
            case .approve:
                writes.inserts.append(charge)
                writes.ledger.append(.init(sagaID: sagaID, kind: "charge", amountCents: command.amountCents))
                return reply(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: command.amountCents))
            case .decline(let reason):
                charge.status = "failed"
                charge.failureReason = reason
                writes.inserts.append(charge)
                return reply(PaymentFailed(orderID: command.orderID, reason: reason))
            case .answerLater:
                charge.status = "pending"
                writes.inserts.append(charge)
                return reply(SettleSlowCharge(orderID: command.orderID), delay: configuration.slowChargeDelay)
            case .transientFailure:
                throw GatewayUnavailable()
            }
        case SettleSlowCharge.typeName:
            let command = try envelope.decode(SettleSlowCharge.self)
            guard let charge = existing else { return [] }
            switch charge.status {
            case "pending":
                writes.statusChanges.append((sagaID, "charged"))
                writes.ledger.append(.init(sagaID: sagaID, kind: "charge", amountCents: charge.amountCents))
                return reply(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: charge.amountCents))
            case "refunding":
                // The saga asked for its money back before the gateway answered: the charge
                // lands and is refunded in one go.
                writes.statusChanges.append((sagaID, "refunded"))
                writes.ledger.append(.init(sagaID: sagaID, kind: "charge", amountCents: charge.amountCents))
                writes.ledger.append(.init(sagaID: sagaID, kind: "refund", amountCents: -charge.amountCents))
                return reply(PaymentRefunded(orderID: command.orderID, amountCents: charge.amountCents))
            default:
                return [] // settled already
            }
        case RefundPayment.typeName:
            let command = try envelope.decode(RefundPayment.self)
            guard let charge = existing else {
                // No charge yet: mark it cancelled so a late ChargePayment takes no money. A charge
                // committed meanwhile makes this insert fail, and the retry refunds it.
                writes.inserts.append(.init(sagaID: sagaID, orderID: command.orderID, id: .timeOrdered(), status: "cancelled",
                                            amountCents: 0, currency: "XXX"))
                return reply(PaymentRefunded(orderID: command.orderID, amountCents: 0))
            }
            switch charge.status {
            case "charged":
                break
            case "pending":
                // The gateway has not answered yet: nothing to give back now, and whatever it
                // takes later comes back when it lands (SettleSlowCharge), whichever order the
                // saga hears these replies in.
                writes.statusChanges.append((sagaID, "refunding"))
                return reply(PaymentRefunded(orderID: command.orderID, amountCents: 0))
            default:
                // Nothing taken (failed, cancelled), refunded already, or to be refunded on landing.
                return reply(PaymentRefunded(orderID: command.orderID, amountCents: 0))
            }
            writes.statusChanges.append((sagaID, "refunded"))
            writes.ledger.append(.init(sagaID: sagaID, kind: "refund", amountCents: -charge.amountCents))
            return reply(PaymentRefunded(orderID: command.orderID, amountCents: charge.amountCents))
        default:
            throw PermanentFailure.unknownType(envelope, queue: .payment)
        }
    }
}
