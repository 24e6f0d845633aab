/// Pieces of SQL that modules own and that a caller composes into one statement.
///
/// A data-modifying `WITH` statement writes several tables atomically in one round trip, without
/// `BEGIN` and `COMMIT` around it. Each module writes its own piece with parameters numbered
/// from `$1`, and the caller renumbers each piece to where its bindings start.
public enum StatementPart {
    /// `sql` with every positional parameter moved up by `offset` (`$1` becomes `$(1 + offset)`).
    /// For program-written SQL only: a `$` followed by digits inside a string literal or a
    /// dollar-quoted body would be renumbered too.
    public static func renumbering(_ sql: String, by offset: Int) -> String {
        guard offset != 0 else { return sql }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var index = sql.startIndex
        while index < sql.endIndex {
            let character = sql[index]
            index = sql.index(after: index)
            guard character == "$" else {
                result.append(character)
                continue
            }
            var digits = ""
            while index < sql.endIndex, let digit = sql[index].wholeNumberValue, sql[index].isASCII {
                digits.append(String(digit))
                index = sql.index(after: index)
            }
            result.append("$")
            if let number = Int(digits) { result += String(number + offset) }
        }
        return result
    }
}
