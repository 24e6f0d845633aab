/// Exponential backoff with jitter.
public struct Backoff: Sendable {
    public var base: Duration
    public var maximum: Duration
    private var attempt = 0

    public init(base: Duration, maximum: Duration) {
        self.base = base
        self.maximum = maximum
    }

    /// The delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, then
    /// scaled by a random factor in [0.5, 1.0) so that failing consumers do not retry in step.
    public static func delay(attempt: Int, base: Duration, maximum: Duration) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = base * (1 << exponent)
        let capped = min(raw, maximum)
        return capped * Double.random(in: 0.5..<1.0)
    }

    public mutating func next() -> Duration {
        attempt += 1
        return Self.delay(attempt: attempt, base: base, maximum: maximum)
    }

    public mutating func reset() { attempt = 0 }
}
