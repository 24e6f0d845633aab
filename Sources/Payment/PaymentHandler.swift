import Database
import EvenTicketContracts
import Foundation
import Logging
import MessageBus
import PostgresNIO

/// Payment's consumer: at most one charge per saga, refunds, and the gateway's slow answers.
///
/// Every movement of money is written to `payment.gateway_ledger` in the same transaction as
/// the charge's new status, so "money kept" is always the ledger's sum for a saga.
public struct PaymentHandler: MessageHandler {
    let configuration: PaymentConfiguration
    let gateway = SimulatedGateway()

    public init(configuration: PaymentConfiguration = .init()) {
        self.configuration = configuration
    }

    public func handle(_ envelope: Envelope, connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        let sagaID = envelope.sagaID
        let causation = envelope.messageID
        switch envelope.typeName {
        case ChargePayment.typeName:
            let command = try envelope.decode(ChargePayment.self)
            return try await charge(command, sagaID: sagaID, attempt: envelope.attempt, causation: causation, on: connection, logger: logger)
        case SettleSlowCharge.typeName:
            let command = try envelope.decode(SettleSlowCharge.self)
            return try await settle(command, sagaID: sagaID, causation: causation, on: connection, logger: logger)
        case RefundPayment.typeName:
            let command = try envelope.decode(RefundPayment.self)
            return [try await refund(command, sagaID: sagaID, causation: causation, on: connection, logger: logger)]
        default:
            throw PermanentFailure.unknownType(envelope, queue: .payment)
        }
    }

    private struct Charge {
        var id: UUID
        var status: String
        var amountCents: Int
        var failureReason: String?
    }

    private func existing(_ sagaID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Charge? {
        let rows = try await connection.query(
            "SELECT id, status, amount_cents, failure_reason FROM payment.charges WHERE saga_id = \(sagaID) FOR UPDATE",
            logger: logger)
        for try await (id, status, amount, reason) in rows.decode((UUID, String, Int, String?).self) {
            return Charge(id: id, status: status, amountCents: amount, failureReason: reason)
        }
        return nil
    }

    private func insert(_ charge: Charge, sagaID: UUID, command: ChargePayment, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query(
            """
            INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status, failure_reason)
            VALUES (\(sagaID), \(command.orderID), \(charge.id), \(charge.amountCents), \(command.currency), \(charge.status), \(charge.failureReason))
            """, logger: logger).collect()
    }

    private func record(_ kind: String, amount: Int, sagaID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.query(
            "INSERT INTO payment.gateway_ledger (saga_id, kind, amount_cents) VALUES (\(sagaID), \(kind), \(amount))",
            logger: logger).collect()
    }

    func charge(_ command: ChargePayment, sagaID: UUID, attempt: Int, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        func reply<M: Message>(_ event: M) -> [OutgoingMessage] { [OutgoingMessage(event, sagaID: sagaID, causationID: causation)] }
        if let charge = try await existing(sagaID, on: connection, logger: logger) {
            // A redelivered or repeated command: answer with what happened, never charge twice.
            switch charge.status {
            case "charged", "refunded":
                return reply(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: charge.amountCents))
            case "failed":
                return reply(PaymentFailed(orderID: command.orderID, reason: charge.failureReason ?? "payment_declined"))
            case "cancelled":
                return reply(PaymentFailed(orderID: command.orderID, reason: "payment_cancelled"))
            default:
                return [] // pending: the gateway's answer is on its way
            }
        }
        var charge = Charge(id: UUID(), status: "charged", amountCents: command.amountCents)
        switch gateway.decide(token: command.paymentToken, attempt: attempt) {
        case .approve:
            try await insert(charge, sagaID: sagaID, command: command, on: connection, logger: logger)
            try await record("charge", amount: command.amountCents, sagaID: sagaID, on: connection, logger: logger)
            return reply(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: command.amountCents))
        case .decline(let reason):
            charge.status = "failed"
            charge.failureReason = reason
            try await insert(charge, sagaID: sagaID, command: command, on: connection, logger: logger)
            return reply(PaymentFailed(orderID: command.orderID, reason: reason))
        case .answerLater:
            charge.status = "pending"
            try await insert(charge, sagaID: sagaID, command: command, on: connection, logger: logger)
            return [OutgoingMessage(SettleSlowCharge(orderID: command.orderID), sagaID: sagaID, causationID: causation,
                                    delay: configuration.slowChargeDelay)]
        case .transientFailure:
            throw GatewayUnavailable()
        }
    }

    func settle(_ command: SettleSlowCharge, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        guard let charge = try await existing(sagaID, on: connection, logger: logger), charge.status == "pending" else { return [] }
        _ = try await connection.query(
            "UPDATE payment.charges SET status = 'charged', updated_at = now() WHERE saga_id = \(sagaID)",
            logger: logger).collect()
        try await record("charge", amount: charge.amountCents, sagaID: sagaID, on: connection, logger: logger)
        return [OutgoingMessage(PaymentCharged(orderID: command.orderID, chargeID: charge.id, amountCents: charge.amountCents),
                                sagaID: sagaID, causationID: causation)]
    }

    func refund(_ command: RefundPayment, sagaID: UUID, causation: UUID, on connection: PostgresConnection, logger: Logger) async throws -> OutgoingMessage {
        func reply(_ amount: Int) -> OutgoingMessage {
            OutgoingMessage(PaymentRefunded(orderID: command.orderID, amountCents: amount), sagaID: sagaID, causationID: causation)
        }
        guard let charge = try await existing(sagaID, on: connection, logger: logger) else {
            // No charge yet: mark it cancelled so a late ChargePayment takes no money. A charge
            // committed meanwhile makes this insert fail, and the retry refunds it.
            _ = try await connection.query(
                """
                INSERT INTO payment.charges (saga_id, order_id, id, amount_cents, currency, status)
                VALUES (\(sagaID), \(command.orderID), \(UUID()), 0, 'XXX', 'cancelled')
                """, logger: logger).collect()
            return reply(0)
        }
        guard charge.status == "charged" else {
            // Nothing taken (failed, cancelled, refunded already), or the gateway has not answered
            // yet (pending): if it charges later, the saga hears PaymentCharged and refunds then.
            return reply(0)
        }
        _ = try await connection.query(
            "UPDATE payment.charges SET status = 'refunded', updated_at = now() WHERE saga_id = \(sagaID)",
            logger: logger).collect()
        try await record("refund", amount: -charge.amountCents, sagaID: sagaID, on: connection, logger: logger)
        return reply(charge.amountCents)
    }
}
