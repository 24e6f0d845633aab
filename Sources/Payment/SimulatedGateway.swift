import EvenTicketContracts

/// A payment gateway stand-in with deterministic test tokens.
///
/// - `tok_declined`: declined, reason `payment_declined`.
/// - `tok_timeout`: the gateway answers only after ``PaymentConfiguration/slowChargeDelay``
///   (longer than the saga's step timeout); the charge then succeeds.
/// - `tok_flaky`: fails transiently on the first two deliveries, then succeeds.
/// - any other well-formed token (`tok_` and 1–64 letters, digits or `_`): charged.
public struct SimulatedGateway: Sendable {
    public enum Decision: Sendable, Equatable {
        case approve
        case decline(reason: String)
        case answerLater
        case transientFailure
    }

    public init() {}

    /// The gateway's answer to a charge on its `attempt`-th delivery (1-based).
    public func decide(token: String, attempt: Int) -> Decision {
        switch token {
        case "tok_declined": .decline(reason: "payment_declined")
        case "tok_timeout": .answerLater
        case "tok_flaky": attempt <= 2 ? .transientFailure : .approve
        case _ where !PaymentToken.isWellFormed(token): .decline(reason: "invalid_payment_token")
        default: .approve
        }
    }
}

/// The gateway failed in a way worth retrying.
public struct GatewayUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String { "payment gateway temporarily unavailable" }
}
