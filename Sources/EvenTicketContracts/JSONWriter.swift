import Foundation

/// A value that writes its own JSON: the very text `MessageCoding.encode` gives it through
/// `Encodable` (compact, keys in code-point order, `JSONEncoder`'s escapes), written directly.
///
/// Every message is encoded once on its way out, and `Encodable` goes through boxed
/// containers, dynamic casts and a tree of members sorted at the end: 5–12 µs per message
/// here, against about 1 µs written directly. A test compares the two texts for every message
/// type.
public protocol JSONWritable: Encodable {
    /// Writes the value; an object writes its members in key order.
    func writeJSON(to json: inout JSONWriter)
}

extension JSONWritable {
    /// The value as JSON text.
    public var jsonText: String {
        var json = JSONWriter()
        writeJSON(to: &json)
        return json.text
    }
}

/// Writes JSON text, compact. The writer of an object must give its members in key order.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma = false

    public init() {
        text.reserveCapacity(192)
    }

    /// An object; `members` writes its members, in key order.
    public mutating func object(_ members: (inout JSONWriter) -> Void) {
        separate()
        text += "{"
        needsComma = false
        members(&self)
        text += "}"
        needsComma = true
    }

    /// An array of `items`, each written by `write`.
    public mutating func array<Items: Sequence>(_ items: Items, _ write: (inout JSONWriter, Items.Element) -> Void) {
        separate()
        text += "["
        needsComma = false
        for item in items { write(&self, item) }
        text += "]"
        needsComma = true
    }

    /// An object member's key: plain ASCII letters and digits, which need no escapes.
    public mutating func key(_ key: String) {
        separate()
        text += "\""
        text += key
        text += "\":"
        needsComma = false
    }

    /// An object member's key that may need escapes.
    public mutating func escapedKey(_ key: String) {
        separate()
        text += "\""
        CanonicalJSONEncoder.appendEscaped(key, to: &text)
        text += "\":"
        needsComma = false
    }

    public mutating func value(_ string: String) {
        separate()
        text += "\""
        CanonicalJSONEncoder.appendEscaped(string, to: &text)
        text += "\""
        needsComma = true
    }

    public mutating func value(_ uuid: UUID) {
        separate()
        text += "\""
        text += uuid.text
        text += "\""
        needsComma = true
    }

    public mutating func null() {
        separate()
        text += "null"
        needsComma = true
    }

    public mutating func value(_ int: Int) {
        separate()
        text += String(int)
        needsComma = true
    }

    public mutating func value(_ value: some JSONWritable) {
        value.writeJSON(to: &self)
    }

    public mutating func member(_ key: String, _ string: String) {
        self.key(key)
        value(string)
    }

    public mutating func member(_ key: String, _ uuid: UUID) {
        self.key(key)
        value(uuid)
    }

    public mutating func member(_ key: String, _ int: Int) {
        self.key(key)
        value(int)
    }

    public mutating func member(_ key: String, _ value: some JSONWritable) {
        self.key(key)
        self.value(value)
    }

    private mutating func separate() {
        if needsComma { text += "," }
    }
}

extension Array: JSONWritable where Element: JSONWritable {
    public func writeJSON(to json: inout JSONWriter) {
        json.array(self) { $0.value($1) }
    }
}

extension Dictionary: JSONWritable where Key == String, Value == String {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            for (key, value) in sorted(by: { $0.key < $1.key }) {
                json.escapedKey(key)
                json.value(value)
            }
        }
    }
}
