import Testing
@testable import LoadGenerator

@Suite("Token mix")
struct TokenMixTests {
    @Test("the default mix is visa=90,declined=8,timeout=2")
    func standardMix() {
        let mix = TokenMix.standard
        #expect(mix.description == "visa=90,declined=8,timeout=2")
        #expect(mix.totalWeight == 100)
        #expect(mix.weights == ["visa": 90, "declined": 8, "timeout": 2])
    }

    @Test("parses every known token, with spaces and any case")
    func parsesKnownTokens() throws {
        let mix = try TokenMix(parsing: "visa=1, Declined=2,timeout = 3,flaky=4")
        #expect(mix.entries.map(\.token) == [.visa, .declined, .timeout, .flaky])
        #expect(mix.entries.map(\.weight) == [1, 2, 3, 4])
        #expect(TokenMix.Token.flaky.paymentToken == "tok_flaky")
    }

    @Test("rejects bad mixes with a message naming the problem", arguments: [
        ("amex=10", "unknown token 'amex'"),
        ("visa=0", "positive integer"),
        ("visa=-3", "positive integer"),
        ("visa=ten", "positive integer"),
        ("visa", "is not name=weight"),
        ("visa=1,,declined=1", "is not name=weight"),
        ("", "is not name=weight"),
        ("visa=1,visa=2", "appears twice"),
        ("visa=1=2", "is not name=weight"),
    ])
    func rejects(text: String, message: String) {
        #expect {
            _ = try TokenMix(parsing: text)
        } throws: { error in
            "\(error)".hasPrefix("invalid --mix: ") && "\(error)".contains(message)
        }
    }

    @Test("each draw maps to a token in proportion to its weight")
    func weightedDraws() throws {
        let mix = try TokenMix(parsing: "visa=90,declined=8,timeout=2")
        var counts: [TokenMix.Token: Int] = [:]
        for draw in 0..<mix.totalWeight { counts[mix.token(at: draw), default: 0] += 1 }
        #expect(counts == [.visa: 90, .declined: 8, .timeout: 2])
        #expect(mix.token(at: 0) == .visa)
        #expect(mix.token(at: 89) == .visa)
        #expect(mix.token(at: 90) == .declined)
        #expect(mix.token(at: 99) == .timeout)
    }

    @Test("random picks follow the weights (seeded, so the counts are fixed)")
    func randomPicks() throws {
        let mix = try TokenMix(parsing: "visa=3,flaky=1")
        var generator = SplitMix64(seed: 42)
        var counts: [TokenMix.Token: Int] = [:]
        for _ in 0..<40_000 { counts[mix.pick(using: &generator), default: 0] += 1 }
        #expect(counts.keys.sorted { $0.rawValue < $1.rawValue } == [.flaky, .visa])
        // 30,000 and 10,000 expected; ±1,000 is over 10 standard deviations.
        #expect(abs(counts[.visa, default: 0] - 30_000) < 1_000)
        #expect(abs(counts[.flaky, default: 0] - 10_000) < 1_000)
    }
}

/// A small deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
