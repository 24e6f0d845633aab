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

    /// Whether a token has the shape the gateway accepts.
    public static func isWellFormed(_ token: String) -> Bool {
        guard token.hasPrefix("tok_") else { return false }
        let rest = token.dropFirst(4)
        return (1...64).contains(rest.count) && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The gateway's answer to a charge on its `attempt`-th delivery (1-based).
    public func decide(token: String, attempt: Int) -> Decision {
        switch token {
        case "tok_declined": .decline(reason: "payment_declined")
        case "tok_timeout": .answerLater
        case "tok_flaky": attempt <= 2 ? .transientFailure : .approve
        case _ where !Self.isWellFormed(token): .decline(reason: "invalid_payment_token")
        default: .approve
        }
    }
}

/// The gateway failed in a way worth retrying.
public struct GatewayUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String { "payment gateway temporarily unavailable" }
}
