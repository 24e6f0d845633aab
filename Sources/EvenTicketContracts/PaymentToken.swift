/// The shape of a payment token: `tok_` and 1 to 64 ASCII letters, digits or underscores.
public enum PaymentToken {
    public static func isWellFormed(_ token: String) -> Bool {
        guard token.hasPrefix("tok_") else { return false }
        let rest = token.dropFirst(4)
        return (1...64).contains(rest.count) && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}
