import PostgresNIO

/// Reads a row's columns in order, each as the type the caller names.
///
/// postgres-nio's `row.decode((A, B, …).self)` takes a parameter pack, which the compiler does
/// not specialize: each column goes through the runtime's generic metadata and witness tables.
/// That was a tenth of the orchestrator's and the workers' CPU, for rows of many columns read
/// once per message. Here each column is decoded by a call specialized for its type.
///
///     var columns = RowReader(row)
///     let (id, name) = (try columns.next(UUID.self), try columns.next(String.self))
public struct RowReader {
    @usableFromInline var cells: PostgresRow.Iterator

    @inlinable
    public init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    /// The next column, decoded as `type`.
    @inlinable
    public mutating func next<Value: PostgresDecodable>(_ type: Value.Type) throws -> Value {
        guard let cell = cells.next() else { throw RowReaderError.missingColumn(expected: String(describing: Value.self)) }
        return try cell.decode(Value.self)
    }
}

/// A row had fewer columns than its reader asked for: the SQL and its decoding disagree.
public enum RowReaderError: Error, CustomStringConvertible {
    case missingColumn(expected: String)

    public var description: String {
        switch self {
        case .missingColumn(let expected): "the row has no more columns (expected one of type \(expected))"
        }
    }
}
