/// Settings of the payment service.
public struct PaymentConfiguration: Sendable {
    /// How long the simulated gateway takes to answer a `tok_timeout` charge; keep it longer than
    /// the orchestrator's step timeout.
    public var slowChargeDelay: Duration

    public init(slowChargeDelay: Duration = .seconds(60)) {
        self.slowChargeDelay = slowChargeDelay
    }
}
