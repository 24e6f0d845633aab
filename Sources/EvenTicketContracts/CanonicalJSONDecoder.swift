import Foundation

/// Reads JSON text into a `Decodable` value as `JSONDecoder` does with `.iso8601` dates, for
/// the payloads the services pass each other, at a fraction of its cost.
///
/// The text is parsed once into a small tree (objects keep their members in order and are
/// searched linearly: message objects have a handful of keys), which the `Decoder` below walks.
/// UUIDs, the most common value in a message, are read directly from their 36 characters
/// rather than through `UUID(uuidString:)`. Malformed JSON, a missing key, a `null` where a
/// value is required and a value of the wrong type throw the same `DecodingError` cases as
/// `JSONDecoder` (of a key given twice, the first counts, as there). It is stricter about the
/// text itself: where `JSONDecoder` lets pass a trailing comma, a number such as `01` or an
/// unescaped control character, this throws `DecodingError.dataCorrupted`.
enum CanonicalJSONDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try TreeDecoder(value: parse(text), codingPath: []).decode(T.self)
    }

    /// As ``decode(_:from:)`` for a type that reads itself, known statically (no runtime cast).
    static func decode<T: JSONReadable>(_ type: T.Type, from text: String) throws -> T {
        try T.read(parse(text), codingPath: [])
    }

    private static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { bytes in
            var parser = Parser(bytes: bytes)
            return try parser.parseDocument()
        }
    }
}

/// A value that reads itself from a JSON object through a ``JSONObjectReader``, as
/// `MessageCoding.decode` does for it instead of going through `Decodable`, and that fails the
/// same way (the same `DecodingError` cases as `JSONDecoder`).
public protocol JSONReadable: Decodable {
    init(json: JSONObjectReader) throws
}

extension JSONReadable {
    fileprivate static func read(_ value: JSONValue, codingPath: [any CodingKey]) throws -> Self {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return try Self(json: JSONObjectReader(members: members, codingPath: codingPath))
    }
}

/// The members of one parsed JSON object, read by key. A key given twice counts the first
/// time, as in `JSONDecoder`; a missing key, a `null` or a value of the wrong type throws the
/// `DecodingError` that `JSONDecoder` throws.
public struct JSONObjectReader {
    fileprivate let members: [(key: String, value: JSONValue)]
    fileprivate let codingPath: [any CodingKey]

    public func string(_ key: String) throws -> String {
        let value = try self.value(key)
        if case .string(let text) = value { return text }
        return try scalar(String.self, value, path(key))
    }

    public func int(_ key: String) throws -> Int {
        let value = try self.value(key)
        if case .number(let text) = value, let int = Int(text) { return int }
        return try scalar(Int.self, value, path(key))
    }

    /// An integer member that must lie in `range`: one outside it is as unreadable as a
    /// malformed one (`DecodingError.dataCorrupted`).
    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        let int = try int(key)
        guard range.contains(int) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: path(key), debugDescription: "\(int) is outside \(range.lowerBound)...\(range.upperBound)"))
        }
        return int
    }

    public func uuid(_ key: String) throws -> UUID {
        let value = try self.value(key)
        if case .string(let text) = value, let uuid = UUID(text: text) { return uuid }
        let text = try scalar(String.self, value, path(key))
        throw DecodingError.dataCorrupted(.init(codingPath: path(key), debugDescription: "Invalid UUID string \(text)"))
    }

    public func array<T: JSONReadable>(_ key: String, of type: T.Type = T.self) throws -> [T] {
        try array(of: T.self, try value(key), key)
    }

    /// An array member whose length must lie in `counts`.
    public func array<T: JSONReadable>(_ key: String, of type: T.Type = T.self, counts: ClosedRange<Int>) throws -> [T] {
        let items = try array(of: T.self, try value(key), key)
        guard counts.contains(items.count) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: path(key), debugDescription: "\(items.count) items, outside \(counts.lowerBound)...\(counts.upperBound)"))
        }
        return items
    }

    /// Throws `DecodingError.dataCorrupted` at the first member whose key is not in `known`, or
    /// that appears twice: for a request whose fields matter, a field the reader would silently
    /// drop (a misspelled one, one the client believes is honoured, or the second of two with
    /// one name, of which a reader takes the first) is an error.
    public func onlyKeys(_ known: Set<String>) throws {
        for (index, member) in members.enumerated() {
            guard known.contains(member.key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path(member.key), debugDescription: JSONObjectReader.unknownKey))
            }
            // A handful of members: comparing is cheaper than building a set.
            if members[..<index].contains(where: { $0.key == member.key }) {
                throw DecodingError.dataCorrupted(.init(codingPath: path(member.key), debugDescription: JSONObjectReader.repeatedKey))
            }
        }
    }

    /// The description of the error ``onlyKeys(_:)`` throws for a key it does not know.
    public static let unknownKey = "is not a field of this object"

    /// The description of the error ``onlyKeys(_:)`` throws for a key given twice.
    public static let repeatedKey = "is given more than once"

    // As `decodeIfPresent`: nil when the key is missing or its value is `null`; a value of the
    // wrong type throws.

    public func stringIfPresent(_ key: String) throws -> String? {
        guard let value = presentValue(key) else { return nil }
        if case .string(let text) = value { return text }
        return try scalar(String.self, value, path(key))
    }

    public func intIfPresent(_ key: String) throws -> Int? {
        guard let value = presentValue(key) else { return nil }
        if case .number(let text) = value, let int = Int(text) { return int }
        return try scalar(Int.self, value, path(key))
    }

    public func arrayIfPresent<T: JSONReadable>(_ key: String, of type: T.Type = T.self) throws -> [T]? {
        try presentValue(key).map { try array(of: T.self, $0, key) }
    }

    private func array<T: JSONReadable>(of type: T.Type, _ value: JSONValue, _ key: String) throws -> [T] {
        guard case .array(let items) = value else { throw mismatch([Any].self, value, path(key)) }
        return try items.enumerated().map { index, item in
            try T.read(item, codingPath: path(key) + [ElementKey(intValue: index)])
        }
    }

    private func value(_ key: String) throws -> JSONValue {
        for member in members where member.key == key { return member.value }
        throw DecodingError.keyNotFound(MemberKey(key), .init(codingPath: codingPath, debugDescription: "No value associated with key \(key)."))
    }

    private func presentValue(_ key: String) -> JSONValue? {
        for member in members where member.key == key {
            if case .null = member.value { return nil }
            return member.value
        }
        return nil
    }

    private func path(_ key: String) -> [any CodingKey] { codingPath + [MemberKey(key)] }
}

/// An object member's key, for error paths.
private struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A parsed JSON value. Numbers keep their text until a type asks for them.
fileprivate enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: Parsing

private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw corrupted("unexpected text after the JSON value") }
        return value
    }

    private func corrupted(_ reason: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON: \(reason) at offset \(index)."))
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw corrupted("too deeply nested") }
        skipWhitespace()
        guard index < bytes.count else { throw corrupted("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw corrupted("unexpected character")
        }
    }

    private mutating func expect(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw corrupted("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw corrupted("unexpected character")
        }
        index += count
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw corrupted("expected a key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw corrupted("expected ':'") }
            index += 1
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            guard index < bytes.count else { throw corrupted("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            } else {
                throw corrupted("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw corrupted("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            } else {
                throw corrupted("expected ',' or ']'")
            }
        }
    }

    /// A string starting at the opening quote.
    private mutating func parseString() throws -> String {
        index += 1
        let start = index
        // Fast path: no escapes, so the text is the bytes between the quotes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw corrupted("unescaped control character in a string") }
            index += 1
        }
        var scalars = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self).unicodeScalars
        var run = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                scalars.append(contentsOf: String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<index]), as: UTF8.self).unicodeScalars)
                index += 1
                return String(scalars)
            }
            guard byte >= 0x20 else { throw corrupted("unescaped control character in a string") }
            guard byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            scalars.append(contentsOf: String(decoding: UnsafeBufferPointer(rebasing: bytes[run..<index]), as: UTF8.self).unicodeScalars)
            index += 1
            guard index < bytes.count else { throw corrupted("unexpected end") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{8}")
            case UInt8(ascii: "f"): scalars.append("\u{C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                let unit = try parseHex4()
                if (0xD800..<0xDC00).contains(unit) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw corrupted("unpaired surrogate")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low),
                          let scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) else {
                        throw corrupted("unpaired surrogate")
                    }
                    scalars.append(scalar)
                } else {
                    guard let scalar = Unicode.Scalar(unit) else { throw corrupted("unpaired surrogate") }
                    scalars.append(scalar)
                }
            default:
                throw corrupted("invalid escape")
            }
            run = index
        }
        throw corrupted("unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw corrupted("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexValue(bytes[index]) else { throw corrupted("invalid \\u escape") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws -> String {
        let start = index
        func digits() -> Int {
            let first = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw corrupted("unexpected end") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { throw corrupted("invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw corrupted("invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw corrupted("invalid number") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }
}

// MARK: Decoding

private struct TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([Any].self, value, codingPath) }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(value: value, codingPath: codingPath) }

    /// Decodes `T` from this decoder's value, reading the types JSON has directly.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let readable = T.self as? any JSONReadable.Type { return try readable.read(value, codingPath: codingPath) as! T }
        if T.self == UUID.self {
            let text = try scalar(String.self, value, codingPath)
            guard let uuid = UUID(text: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Invalid UUID string \(text)"))
            }
            return uuid as! T
        }
        if T.self == Date.self {
            let text = try scalar(String.self, value, codingPath)
            guard let date = try? Date.ISO8601FormatStyle().parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Expected date string to be ISO8601-formatted."))
            }
            return date as! T
        }
        if T.self == String.self { return try scalar(String.self, value, codingPath) as! T }
        if T.self == Int.self { return try scalar(Int.self, value, codingPath) as! T }
        return try T(from: self)
    }
}

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    if case .null = value {
        return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) value but found null instead."))
    }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(value.kind) instead."))
}

/// A JSON scalar as one of the types Codable reads directly.
private func scalar<T>(_ type: T.Type, _ value: JSONValue, _ path: [any CodingKey]) throws -> T {
    switch value {
    case .string(let text) where T.self == String.self:
        return text as! T
    case .bool(let flag) where T.self == Bool.self:
        return flag as! T
    case .number(let text) where T.self != String.self && T.self != Bool.self:
        if let result = number(text, as: T.self) { return result }
        throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(text) does not fit in \(T.self)."))
    default:
        throw mismatch(T.self, value, path)
    }
}

private func number<T>(_ text: String, as type: T.Type) -> T? {
    func integer<I: FixedWidthInteger>(_: I.Type) -> I? { exactInteger(text, as: I.self) }
    switch type {
    case is Int.Type: return integer(Int.self) as? T
    case is Int8.Type: return integer(Int8.self) as? T
    case is Int16.Type: return integer(Int16.self) as? T
    case is Int32.Type: return integer(Int32.self) as? T
    case is Int64.Type: return integer(Int64.self) as? T
    case is UInt.Type: return integer(UInt.self) as? T
    case is UInt8.Type: return integer(UInt8.self) as? T
    case is UInt16.Type: return integer(UInt16.self) as? T
    case is UInt32.Type: return integer(UInt32.self) as? T
    case is UInt64.Type: return integer(UInt64.self) as? T
    case is Double.Type: return Double(text) as? T
    case is Float.Type: return Float(text) as? T
    default: return nil
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(key: String, value: JSONValue)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    private func find(_ key: Key) -> JSONValue? {
        let name = key.stringValue
        for member in members where member.key == name { return member.value }
        return nil
    }

    private func value(for key: Key) throws -> JSONValue {
        guard let value = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(for: key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalar(type, value(for: key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalar(type, value(for: key), codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try TreeDecoder(value: value(for: key), codingPath: codingPath + [key]).decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(value: value(for: key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: value(for: key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(value: members.first(where: { $0.key == "super" })?.value ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(value: find(key) ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private var path: [any CodingKey] { codingPath + [ElementKey(intValue: currentIndex)] }

    private mutating func next<T>(_ type: T.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
        }
        if case .null = items[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    private mutating func scalarNext<T>(_ type: T.Type) throws -> T {
        let elementPath = path
        return try scalar(type, next(type), elementPath)
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try scalarNext(type) }
    mutating func decode(_ type: String.Type) throws -> String { try scalarNext(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try scalarNext(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try scalarNext(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try scalarNext(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try scalarNext(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try scalarNext(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try scalarNext(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try scalarNext(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try scalarNext(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try scalarNext(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try scalarNext(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try scalarNext(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try scalarNext(type) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let elementPath = path
        return try TreeDecoder(value: next(type), codingPath: elementPath).decode(type)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let elementPath = path
        return try TreeDecoder(value: next([String: Any].self), codingPath: elementPath).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let elementPath = path
        return try TreeDecoder(value: next([Any].self), codingPath: elementPath).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let elementPath = path
        return TreeDecoder(value: try next(Any.self), codingPath: elementPath)
    }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try scalar(type, value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try scalar(type, value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try scalar(type, value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try scalar(type, value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try scalar(type, value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar(type, value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar(type, value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar(type, value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar(type, value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar(type, value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(type, value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(type, value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(type, value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(type, value, codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try TreeDecoder(value: value, codingPath: codingPath).decode(type)
    }
}

private struct ElementKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// The integer a JSON number spells, exactly, or nil when it spells none (a fraction that is
/// not all zeros) or one that does not fit in `I`. `2.0`, `1e2` and `1.50e2` are 2, 100 and 150;
/// `0.99999999999999999` and `1e-400` are not integers, though the nearest `Double` of each is
/// one, and `9007199254740993.0` is that number, not the `Double` next to it. `text` has JSON's
/// number grammar (the parser checked it).
func exactInteger<I: FixedWidthInteger>(_ text: String, as _: I.Type = I.self) -> I? {
    if let plain = I(text) { return plain }
    var bytes = Substring(text).utf8[...]
    let negative = bytes.first == UInt8(ascii: "-")
    if negative { bytes = bytes.dropFirst() }
    let exponentStart = bytes.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    let mantissa = exponentStart.map { bytes[..<$0] } ?? bytes
    var exponent = 0
    if let exponentStart {
        var exponentText = bytes[bytes.index(after: exponentStart)...]
        let negativeExponent = exponentText.first == UInt8(ascii: "-")
        if exponentText.first == UInt8(ascii: "-") || exponentText.first == UInt8(ascii: "+") { exponentText = exponentText.dropFirst() }
        // Beyond any integer's digits either way: a bigger exponent cannot make one that fits.
        guard exponentText.count <= 6, let magnitude = Int(String(decoding: exponentText, as: UTF8.self)) else { return nil }
        exponent = negativeExponent ? -magnitude : magnitude
    }
    let point = mantissa.firstIndex(of: UInt8(ascii: "."))
    var digits = Array(mantissa.filter { $0 != UInt8(ascii: ".") })
    if let point { exponent -= mantissa.distance(from: mantissa.index(after: point), to: mantissa.endIndex) }
    // Trailing zeros cancel a negative exponent; leading zeros change nothing.
    while exponent < 0, digits.last == UInt8(ascii: "0") { digits.removeLast(); exponent += 1 }
    while digits.first == UInt8(ascii: "0") { digits.removeFirst() }
    if digits.isEmpty { return 0 }
    guard exponent >= 0, digits.count + exponent <= 40 else { return nil }
    digits += repeatElement(UInt8(ascii: "0"), count: exponent)
    return I((negative ? "-" : "") + String(decoding: digits, as: UTF8.self))
}
