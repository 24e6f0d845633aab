import Foundation

/// The typed wrapper every message travels in.
///
/// The payload is kept as JSON text so that an operator can read a dead letter and so that
/// a consumer can decode it into the type its ``typeName`` names.
public struct Envelope: Sendable, Hashable, Codable {
    /// Unique per message; redeliveries keep it, which is what makes consumers idempotent.
    public var messageID: UUID
    /// The saga (one per order) this message belongs to.
    public var sagaID: UUID
    /// The message that caused this one, if any.
    public var causationID: UUID?
    /// Versioned type name, for example `ReserveTickets.v1`.
    public var typeName: String
    /// When the message was created.
    public var timestamp: Date
    /// Delivery attempt: 0 while unsent; the bus sets 1 for the first delivery, 2 for the next…
    public var attempt: Int
    /// Free-form headers, for example W3C trace context (`traceparent`).
    public var headers: [String: String]
    /// The message body as JSON text.
    public var payload: String

    public init(
        messageID: UUID = .timeOrdered(),
        sagaID: UUID,
        causationID: UUID? = nil,
        typeName: String,
        timestamp: Date = Date(),
        attempt: Int = 0,
        headers: [String: String] = [:],
        payload: String
    ) {
        self.messageID = messageID
        self.sagaID = sagaID
        self.causationID = causationID
        self.typeName = typeName
        self.timestamp = timestamp
        self.attempt = attempt
        self.headers = headers
        self.payload = payload
    }

    /// Wraps a message, encoding it as JSON.
    public init<M: Message>(_ message: M, sagaID: UUID, causationID: UUID? = nil, headers: [String: String] = [:]) {
        self.init(
            sagaID: sagaID,
            causationID: causationID,
            typeName: M.typeName,
            headers: headers,
            payload: MessageCoding.encode(message)
        )
    }

    /// Decodes the payload as `M`, checking that the type name matches.
    public func decode<M: Message>(_ type: M.Type) throws -> M {
        guard typeName == M.typeName else {
            throw MessageDecodingError(typeName: typeName, reason: "expected \(M.typeName)")
        }
        do {
            return try MessageCoding.decode(M.self, from: payload)
        } catch {
            throw MessageDecodingError(typeName: typeName, reason: "\(error)")
        }
    }
}

/// A payload that could not be decoded into the type its envelope names. Never retryable.
public struct MessageDecodingError: Error, CustomStringConvertible, Sendable {
    public var typeName: String
    public var reason: String
    public var description: String { "cannot decode \(typeName): \(reason)" }
}

/// The one JSON configuration used for message payloads.
public enum MessageCoding {
    /// Reads JSON text as `JSONDecoder` with ISO 8601 dates does (``CanonicalJSONDecoder``).
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try CanonicalJSONDecoder.decode(type, from: text)
    }

    /// As ``decode(_:from:)`` for a type that reads itself (every message): the same result,
    /// without the runtime cast by which the generic decode finds that out.
    public static func decode<T: JSONReadable>(_ type: T.Type, from text: String) throws -> T {
        try CanonicalJSONDecoder.decode(type, from: text)
    }

    /// A flat object of strings as JSON text, keys sorted (the same text as the generic encode),
    /// written directly: history details and headers are small and many.
    public static func encode(_ object: [String: String]) -> String {
        object.jsonText
    }

    /// A string as a JSON string literal.
    public static func quoted(_ string: String) -> String {
        CanonicalJSONEncoder.quoted(string)
    }

    /// `value` as JSON text, written by its own ``JSONWritable/writeJSON(to:)``: the same text as
    /// the generic encode, without the runtime cast by which that one finds the fast path (the
    /// cast alone cost the order intake about 7% of its CPU).
    public static func encode<T: JSONWritable>(_ value: T) -> String {
        value.jsonText
    }

    /// `value` as JSON text, as `JSONEncoder` writes it with sorted keys and ISO 8601 dates
    /// (``CanonicalJSONEncoder``). Sorted keys make the text canonical: equal values encode to
    /// equal text.
    public static func encode<T: Encodable>(_ value: T) -> String {
        // Encoding plain value types with string keys cannot fail.
        try! CanonicalJSONEncoder.encode(value)
    }
}
