import PostgresNIO
import Synchronization

/// The text of a prepared statement, named by the type that holds it.
public protocol PreparedSQL {
    static var sql: String { get }
}

/// A prepared statement built from a ``PreparedSQL`` type and bindings: PostgreSQL parses and
/// plans it once per connection instead of on every call.
///
///     enum LockStock: PreparedSQL { static let sql = "SELECT … WHERE id = ANY($1::uuid[]) FOR UPDATE" }
///     var bindings = PostgresBindings()
///     bindings.append(ids)
///     for try await (id, count) in try await connection.execute(
///         Prepared<LockStock, (UUID, Int)>(bindings) { try $0.decode((UUID, Int).self) }, logger: logger) { … }
public struct Prepared<Text: PreparedSQL, Row>: PostgresPreparedStatement {
    public static var name: String { StatementName.of(Text.self) }
    public static var sql: String { Text.sql }

    let bindings: PostgresBindings
    let decode: @Sendable (PostgresRow) throws -> Row

    public init(_ bindings: PostgresBindings, decode: @escaping @Sendable (PostgresRow) throws -> Row) {
        self.bindings = bindings
        self.decode = decode
    }

    public func makeBindings() throws -> PostgresBindings { bindings }
    public func decodeRow(_ row: PostgresRow) throws -> Row { try decode(row) }
}

extension Prepared where Row == () {
    /// A statement whose rows, if any, are not read.
    public init(_ bindings: PostgresBindings) {
        self.init(bindings) { _ in }
    }
}

extension PostgresConnection {
    /// Runs a prepared statement whose rows are not needed.
    public func run<Text: PreparedSQL>(_ text: Text.Type, _ bindings: PostgresBindings, logger: Logger) async throws {
        _ = try await execute(Prepared<Text, ()>(bindings), logger: logger)
    }
}

extension PostgresBindings {
    /// Bindings of the given values, in order.
    public init(_ values: any PostgresNonThrowingEncodable...) {
        self.init(capacity: values.count)
        for value in values { append(value) }
    }
}

/// Names of prepared statements, one per statement type.
///
/// postgres-nio asks a statement type for its name on every execution, and its default
/// (`String(reflecting:)`) renders the type's name anew each time; a statement's name never
/// changes, so it is rendered once per type and looked up after that.
public enum StatementName {
    private static let names = Mutex<[ObjectIdentifier: String]>([:])

    /// The name of the prepared statement that `type` stands for.
    public static func of(_ type: Any.Type) -> String {
        let key = ObjectIdentifier(type)
        if let name = names.withLock({ $0[key] }) { return name }
        let name = String(reflecting: type)
        names.withLock { $0[key] = name }
        return name
    }
}

/// Texts of prepared statements composed from parts (generic statement types), one per type.
///
/// postgres-nio reads a statement's `sql` on every execution; a composed text is built the first
/// time its type runs and looked up after that.
public enum StatementText {
    private static let texts = Mutex<[ObjectIdentifier: String]>([:])

    /// The text of the statement `type` stands for, made by `make` the first time.
    public static func of(_ type: Any.Type, _ make: () -> String) -> String {
        let key = ObjectIdentifier(type)
        if let text = texts.withLock({ $0[key] }) { return text }
        let text = make()
        texts.withLock { $0[key] = text }
        return text
    }
}
