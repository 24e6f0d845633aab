/// The payment tokens a bench run pays with, and how often each one is used.
///
/// Parsed from `visa=90,declined=8,timeout=2`: a name (`visa`, `declined`, `timeout`, `flaky`,
/// each meaning `tok_<name>`) and a positive integer weight per entry. Picking is weighted and
/// needs no allocation: one random number and a walk over at most four cumulative weights.
public struct TokenMix: Sendable, Equatable, CustomStringConvertible {
    /// A payment test token the system knows.
    public enum Token: String, Sendable, CaseIterable, Codable {
        case visa, declined, timeout, flaky

        /// The token as sent in `paymentToken`.
        public var paymentToken: String { "tok_" + rawValue }
    }

    /// The entries in the order given, each with its weight.
    public let entries: [(token: Token, weight: Int)]
    /// Running sums of the weights, for picking.
    private let cumulative: [Int]

    /// The mix used when none is given: `visa=90,declined=8,timeout=2`.
    public static let standard = try! TokenMix(parsing: "visa=90,declined=8,timeout=2")

    public init(_ entries: [(token: Token, weight: Int)]) throws {
        guard !entries.isEmpty else { throw TokenMixError("the mix is empty") }
        var seen = Set<Token>()
        for entry in entries {
            guard entry.weight > 0 else { throw TokenMixError("weight of \(entry.token.rawValue) must be a positive integer") }
            guard seen.insert(entry.token).inserted else { throw TokenMixError("\(entry.token.rawValue) appears twice") }
        }
        var sum = 0
        cumulative = entries.map { entry in
            sum += entry.weight
            return sum
        }
        guard sum <= 1_000_000_000 else { throw TokenMixError("weights add up to more than 1000000000") }
        self.entries = entries
    }

    /// Parses `name=weight,name=weight,…`.
    public init(parsing text: String) throws {
        var entries: [(token: Token, weight: Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", omittingEmptySubsequences: false)
            guard pieces.count == 2 else {
                throw TokenMixError("'\(part)' is not name=weight (expected e.g. visa=90,declined=8,timeout=2)")
            }
            let name = pieces[0].trimmingSpaces.lowercased()
            guard let token = Token(rawValue: name) else {
                let known = Token.allCases.map(\.rawValue).joined(separator: ", ")
                throw TokenMixError("unknown token '\(pieces[0].trimmingSpaces)' (known: \(known))")
            }
            guard let weight = Int(pieces[1].trimmingSpaces), weight > 0 else {
                throw TokenMixError("weight of \(name) must be a positive integer, not '\(pieces[1].trimmingSpaces)'")
            }
            entries.append((token, weight))
        }
        try self.init(entries)
    }

    /// The sum of all weights.
    public var totalWeight: Int { cumulative.last ?? 0 }

    /// The token for a number drawn uniformly from `0..<totalWeight`.
    public func token(at draw: Int) -> Token {
        for (index, bound) in cumulative.enumerated() where draw < bound {
            return entries[index].token
        }
        return entries[entries.count - 1].token
    }

    /// A token chosen at random with the mix's weights.
    public func pick(using generator: inout some RandomNumberGenerator) -> Token {
        token(at: Int.random(in: 0..<totalWeight, using: &generator))
    }

    /// `visa=90,declined=8,timeout=2`
    public var description: String {
        entries.map { "\($0.token.rawValue)=\($0.weight)" }.joined(separator: ",")
    }

    /// Each token's weight, for the report.
    public var weights: [String: Int] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.token.rawValue, $0.weight) })
    }

    public static func == (lhs: TokenMix, rhs: TokenMix) -> Bool {
        lhs.description == rhs.description
    }
}

/// A `--mix` that cannot be used.
public struct TokenMixError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = "invalid --mix: " + description }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
