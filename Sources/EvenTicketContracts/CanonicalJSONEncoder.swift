import Foundation

/// Writes an `Encodable` value as the exact text `JSONEncoder` writes with `.sortedKeys` and
/// `.iso8601` dates (compact; keys in code-point order; `/` escaped as `\/`; control characters
/// as `\b \f \n \r \t` or `\u00xx`; other characters as they are), at a fraction of its cost.
///
/// Every message crosses it at least once, so its speed shows in the whole system's throughput:
/// `JSONEncoder` builds a tree of boxed values and a key-sorted dictionary per object before it
/// writes a byte. This encoder keeps each object as a small array of already-written members
/// and sorts them once when the object is closed. A test checks that both write the same text
/// for every message type.
enum CanonicalJSONEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        var output = ""
        try node(of: value, codingPath: []).write(to: &output)
        return output
    }

    /// The JSON of one value: a scalar's text, or an object or array still being filled.
    fileprivate static func node<T: Encodable>(of value: T, codingPath: [any CodingKey]) throws -> Node {
        switch value {
        case let writable as any JSONWritable: return .text(writable.jsonText)
        case let string as String: return .text(quoted(string))
        case let uuid as UUID: return .text("\"" + uuid.text + "\"")
        case let date as Date: return .text(quoted(date.formatted(.iso8601)))
        case let int as Int: return .text(String(int))
        case let bool as Bool: return .text(bool ? "true" : "false")
        default:
            let encoder = NodeEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            return encoder.result ?? .object(ObjectBox())
        }
    }

    static func quoted(_ string: String) -> String {
        var text = "\""
        appendEscaped(string, to: &text)
        text += "\""
        return text
    }

    /// Appends `string` with JSON's escapes, copying runs that need none whole.
    static func appendEscaped(_ string: String, to text: inout String) {
        var needsEscaping = false
        for byte in string.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/") {
            needsEscaping = true
            break
        }
        guard needsEscaping else {
            text += string
            return
        }
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "/": text += "\\/"
            case "\u{8}": text += "\\b"
            case "\u{C}": text += "\\f"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
    }

    static func number<N: BinaryFloatingPoint & LosslessStringConvertible>(_ value: N) throws -> String {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(value) is not valid in JSON"))
        }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

fileprivate final class ObjectBox {
    var members: [(key: String, value: Node)] = []

    func set(_ key: String, _ value: Node) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
    }
}

fileprivate final class ArrayBox {
    var items: [Node] = []
}

fileprivate enum Node {
    case text(String)
    case object(ObjectBox)
    case array(ArrayBox)

    func write(to output: inout String) {
        switch self {
        case .text(let text):
            output += text
        case .object(let object):
            output += "{"
            for (index, member) in object.members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { output += "," }
                output += "\""
                CanonicalJSONEncoder.appendEscaped(member.key, to: &output)
                output += "\":"
                member.value.write(to: &output)
            }
            output += "}"
        case .array(let array):
            output += "["
            for (index, item) in array.items.enumerated() {
                if index > 0 { output += "," }
                item.write(to: &output)
            }
            output += "]"
        }
    }
}

fileprivate final class NodeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var result: Node?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: ObjectBox
        if case .object(let existing) = result {
            object = existing
        } else {
            object = ObjectBox()
            result = .object(object)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: ArrayBox
        if case .array(let existing) = result {
            array = existing
        } else {
            array = ArrayBox()
            result = .array(array)
        }
        return UnkeyedContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }
}

fileprivate struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .text("null")) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .text(value ? "true" : "false")) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .text(CanonicalJSONEncoder.quoted(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, .text(try CanonicalJSONEncoder.number(value))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, .text(try CanonicalJSONEncoder.number(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try CanonicalJSONEncoder.node(of: value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        object.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        object.set(key.stringValue, .array(nested))
        return UnkeyedContainer(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { SuperEncoder(parent: .object(object, "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { SuperEncoder(parent: .object(object, key.stringValue), codingPath: codingPath + [key]) }
}

fileprivate struct UnkeyedContainer: UnkeyedEncodingContainer {
    let array: ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { array.items.count }

    mutating func encodeNil() throws { array.items.append(.text("null")) }
    mutating func encode(_ value: Bool) throws { array.items.append(.text(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { array.items.append(.text(CanonicalJSONEncoder.quoted(value))) }
    mutating func encode(_ value: Double) throws { array.items.append(.text(try CanonicalJSONEncoder.number(value))) }
    mutating func encode(_ value: Float) throws { array.items.append(.text(try CanonicalJSONEncoder.number(value))) }
    mutating func encode(_ value: Int) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: Int8) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: Int16) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: Int32) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: Int64) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: UInt) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: UInt8) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: UInt16) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: UInt32) throws { array.items.append(.text(String(value))) }
    mutating func encode(_ value: UInt64) throws { array.items.append(.text(String(value))) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try CanonicalJSONEncoder.node(of: value, codingPath: codingPath + [IndexKey(intValue: count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        let path = codingPath + [IndexKey(intValue: count)]
        array.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        let path = codingPath + [IndexKey(intValue: count)]
        array.items.append(.array(nested))
        return UnkeyedContainer(array: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let index = count
        array.items.append(.text("{}"))
        return SuperEncoder(parent: .array(array, index), codingPath: codingPath + [IndexKey(intValue: index)])
    }
}

fileprivate struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.result = .text("null") }
    mutating func encode(_ value: Bool) throws { encoder.result = .text(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { encoder.result = .text(CanonicalJSONEncoder.quoted(value)) }
    mutating func encode(_ value: Double) throws { encoder.result = .text(try CanonicalJSONEncoder.number(value)) }
    mutating func encode(_ value: Float) throws { encoder.result = .text(try CanonicalJSONEncoder.number(value)) }
    mutating func encode(_ value: Int) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: Int8) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: Int16) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: Int32) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: Int64) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: UInt) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: UInt8) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: UInt16) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: UInt32) throws { encoder.result = .text(String(value)) }
    mutating func encode(_ value: UInt64) throws { encoder.result = .text(String(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.result = try CanonicalJSONEncoder.node(of: value, codingPath: codingPath)
    }
}

/// The encoder a `superEncoder()` call hands out: what it encodes lands where the call was made.
fileprivate final class SuperEncoder: Encoder {
    enum Parent {
        case object(ObjectBox, String)
        case array(ArrayBox, Int)
    }

    let parent: Parent
    let inner: NodeEncoder
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(parent: Parent, codingPath: [any CodingKey]) {
        self.parent = parent
        self.inner = NodeEncoder(codingPath: codingPath)
    }

    deinit {
        let node = inner.result ?? .object(ObjectBox())
        switch parent {
        case .object(let object, let key): object.set(key, node)
        case .array(let array, let index): array.items[index] = node
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { inner.container(keyedBy: type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner.singleValueContainer() }
}

fileprivate struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
