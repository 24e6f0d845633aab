import Foundation
import Testing
@testable import EvenTicketContracts

/// `MessageCoding.encode` writes its own JSON (for speed); it must be the very text Foundation's
/// `JSONEncoder` writes with sorted keys and ISO 8601 dates.
@Suite("Canonical JSON")
struct CanonicalJSONTests {
    static func foundation<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Text that needs every kind of escape, and some that needs none.
    static let awkward = "a/b \"q\" \\ \u{1}\u{8}\u{C}\n\r\t\u{1F} é 😀 \u{7F}"

    /// `MessageCoding`'s generic overloads, as a caller that knows only `Encodable` or
    /// `Decodable` reaches them.
    static func viaEncodable<T: Encodable>(_ value: T) -> String { MessageCoding.encode(value) }
    static func viaDecodable<T: Decodable>(_ type: T.Type, from text: String) throws -> T { try MessageCoding.decode(type, from: text) }

    @Test func everyMessageTypeEncodesAsJSONEncoderDoes() throws {
        let id = Fixture.orderID
        let lines = [OrderLine(ticketTypeID: Fixture.standardType, quantity: 2), OrderLine(ticketTypeID: Fixture.vipType, quantity: 1)]
        let order = OrderPlaced(orderID: id, customerID: Self.awkward, eventID: Fixture.eventID, lines: lines, totalCents: 12_345,
                                currency: "EUR", paymentToken: "tok_visa")
        #expect(MessageCoding.encode(order) == (try Self.foundation(order)))
        #expect(MessageCoding.encode(lines) == (try Self.foundation(lines)))
        func check<M: Message>(_ message: M) throws {
            #expect(MessageCoding.encode(message) == (try Self.foundation(message)), "\(M.typeName)")
            // The generic encode (which finds the message's own writer by a runtime cast) too.
            #expect(Self.viaEncodable(message) == MessageCoding.encode(message), "\(M.typeName)")
        }
        try check(ReserveTickets(orderID: id, eventID: Fixture.eventID, lines: lines))
        try check(ReleaseTickets(orderID: id))
        try check(CreateInvoice(orderID: id, customerID: "ç-üñí/\u{0}", amountCents: -1, currency: "JPY"))
        try check(CancelInvoice(orderID: id))
        try check(ChargePayment(orderID: id, amountCents: Int.max, currency: "USD", paymentToken: Self.awkward))
        try check(RefundPayment(orderID: id))
        try check(SettleSlowCharge(orderID: id))
        try check(StepDeadlineReached(step: "chargePayment", token: 42))
        try check(TicketsReserved(orderID: id, quantity: 3))
        try check(TicketsUnavailable(orderID: id, reason: "sold out"))
        try check(TicketsReleased(orderID: id, quantity: 3))
        try check(InvoiceCreated(orderID: id, invoiceID: Fixture.invoiceID, invoiceNumber: "INV-000001"))
        try check(InvoiceCancelled(orderID: id))
        try check(PaymentCharged(orderID: id, chargeID: Fixture.chargeID, amountCents: 500))
        try check(PaymentFailed(orderID: id, reason: "payment_declined"))
        try check(PaymentRefunded(orderID: id, amountCents: 500))
        try check(OrderConfirmed(orderID: id))
        try check(OrderRejected(orderID: id, reason: Self.awkward))
    }

    /// One of each message type, with awkward text where there is text.
    static var everyMessage: [any Message] {
        let id = Fixture.orderID
        let lines = [OrderLine(ticketTypeID: Fixture.standardType, quantity: 2), OrderLine(ticketTypeID: Fixture.vipType, quantity: 1)]
        return [
            OrderPlaced(orderID: id, customerID: awkward, eventID: Fixture.eventID, lines: lines, totalCents: 12_345, currency: "EUR",
                        paymentToken: "tok_visa"),
            ReserveTickets(orderID: id, eventID: Fixture.eventID, lines: lines), ReleaseTickets(orderID: id),
            CreateInvoice(orderID: id, customerID: awkward, amountCents: 0, currency: "JPY"), CancelInvoice(orderID: id),
            ChargePayment(orderID: id, amountCents: AmountCents.range.upperBound, currency: "USD", paymentToken: awkward), RefundPayment(orderID: id),
            SettleSlowCharge(orderID: id), StepDeadlineReached(step: "chargePayment", token: 42),
            TicketsReserved(orderID: id, quantity: 3), TicketsUnavailable(orderID: id, reason: awkward),
            TicketsReleased(orderID: id, quantity: 3),
            InvoiceCreated(orderID: id, invoiceID: Fixture.invoiceID, invoiceNumber: "INV-000001"), InvoiceCancelled(orderID: id),
            PaymentCharged(orderID: id, chargeID: Fixture.chargeID, amountCents: 500), PaymentFailed(orderID: id, reason: "payment_declined"),
            PaymentRefunded(orderID: id, amountCents: 500), OrderConfirmed(orderID: id), OrderRejected(orderID: id, reason: awkward),
        ]
    }

    @Test func everyMessageTypeReadsBackWhatItWrites() throws {
        func check<M: Message>(_ message: M) throws {
            let text = MessageCoding.encode(message)
            #expect(try MessageCoding.decode(M.self, from: text) == message, "\(M.typeName)")
            #expect(try Self.viaDecodable(M.self, from: text) == message, "\(M.typeName)")
            #expect(try JSONDecoder().decode(M.self, from: Data(text.utf8)) == message, "\(M.typeName)")
        }
        for message in Self.everyMessage { try check(message) }
        #expect(Self.everyMessage.count == 19)
    }

    /// A message in JSON of the wrong shape; messages read themselves (`JSONReadable`).
    static let mistypedMessages = [
        #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F"}"#,
        #"{"orderID":null,"quantity":1}"#,
        #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":null}"#,
        #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":"1"}"#,
        #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":1.5}"#,
        #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":99999999999999999999}"#,
        #"{"orderID":"not-a-uuid","quantity":1}"#, #"{"orderID":7,"quantity":1}"#, #"{"orderID":[],"quantity":1}"#,
        "[]", "null", "1", #""text""#,
    ]

    @Test(arguments: mistypedMessages)
    func mistypedMessagesFailAsJSONDecoderFails(document: String) throws {
        var foundation: Failure?
        do { _ = try JSONDecoder().decode(TicketsReserved.self, from: Data(document.utf8)) } catch { foundation = Failure(error) }
        var ours: Failure?
        do { _ = try MessageCoding.decode(TicketsReserved.self, from: document) } catch { ours = Failure(error) }
        #expect(foundation != nil)
        #expect(ours == foundation)
    }

    /// Commands whose numbers a participant must not take: out of range, they do not decode
    /// (and are dead-lettered) instead of overflowing a sum or moving negative money.
    static let commandsOutOfRange: [(type: String, json: String)] = {
        let order = #""orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F""#
        let event = #""eventID":"0F0C1A52-6A7B-4E38-9E5A-45A8E1C1A0B2""#
        func line(_ quantity: Int) -> String { #"{"quantity":\#(quantity),"ticketTypeID":"5D1B8B0E-2C35-4C8E-8E43-0A3A9C3E6F10"}"# }
        return [
            ("reserve", #"{\#(event),"lines":[\#(line(0))],\#(order)}"#),
            ("reserve", #"{\#(event),"lines":[\#(line(-5))],\#(order)}"#),
            ("reserve", #"{\#(event),"lines":[\#(line(Int.max)),\#(line(Int.max))],\#(order)}"#),
            ("reserve", #"{\#(event),"lines":[],\#(order)}"#),
            ("reserve", #"{\#(event),"lines":[\#(Array(repeating: line(1), count: 101).joined(separator: ","))],\#(order)}"#),
            ("charge", #"{"amountCents":-4500,"currency":"EUR",\#(order),"paymentToken":"tok_visa"}"#),
            ("charge", #"{"amountCents":\#(Int.max),"currency":"EUR",\#(order),"paymentToken":"tok_visa"}"#),
            ("invoice", #"{"amountCents":-1,"currency":"EUR","customerID":"c",\#(order)}"#),
            // The saga's own record of its order: refused at its start, not by invoicing later.
            ("placed", #"{"currency":"EUR","customerID":"c",\#(event),"lines":[\#(line(1))],\#(order),"paymentToken":"tok_visa","totalCents":-4500}"#),
            ("placed", #"{"currency":"EUR","customerID":"c",\#(event),"lines":[],\#(order),"paymentToken":"tok_visa","totalCents":4500}"#),
        ]
    }()

    @Test(arguments: commandsOutOfRange)
    func commandsWithNumbersOutOfRangeDoNotDecode(command: (type: String, json: String)) throws {
        #expect(throws: DecodingError.self) {
            switch command.type {
            case "reserve": _ = try MessageCoding.decode(ReserveTickets.self, from: command.json)
            case "charge": _ = try MessageCoding.decode(ChargePayment.self, from: command.json)
            case "placed": _ = try MessageCoding.decode(OrderPlaced.self, from: command.json)
            default: _ = try MessageCoding.decode(CreateInvoice.self, from: command.json)
            }
        }
        // The same command within range reads.
        let inRange = command.json.replacingOccurrences(of: #""quantity":-5"#, with: #""quantity":5"#)
        if inRange != command.json { _ = try MessageCoding.decode(ReserveTickets.self, from: inRange) }
    }

    @Test func messagesReadAsJSONDecoderReads() throws {
        // Keys in any order and spacing, unknown keys, a key given twice (the first counts),
        // integral numbers written as floating point, lowercase UUIDs, nested lines.
        let documents = [
            #"{ "quantity" : 1e1 , "extra" : {"x": [1, null]}, "orderID" : "e621e1f8-c36c-495a-93fc-0c247a3e6e5f" }"#,
            #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":2,"quantity":3}"#,
        ]
        for document in documents {
            let expected = try JSONDecoder().decode(TicketsReserved.self, from: Data(document.utf8))
            #expect(try MessageCoding.decode(TicketsReserved.self, from: document) == expected)
        }
        let lines = #"{"eventID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","lines":[{"quantity":1,"ticketTypeID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F"}]}"#
        #expect(try MessageCoding.decode(ReserveTickets.self, from: lines) == (try JSONDecoder().decode(ReserveTickets.self, from: Data(lines.utf8))))
        for bad in [#"{"eventID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","lines":[{"quantity":1}]}"#,
                    #"{"eventID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","lines":[7]}"#,
                    #"{"eventID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","lines":{}}"#] {
            var foundation: Failure?
            do { _ = try JSONDecoder().decode(ReserveTickets.self, from: Data(bad.utf8)) } catch { foundation = Failure(error) }
            var ours: Failure?
            do { _ = try MessageCoding.decode(ReserveTickets.self, from: bad) } catch { ours = Failure(error) }
            #expect(foundation != nil && ours == foundation, "\(bad)")
        }
    }

    struct Everything: Encodable {
        struct Inner: Encodable {
            var b = true
            var none: Int? = nil
            var explicitNull: Int?
            enum CodingKeys: String, CodingKey { case b, none, explicitNull }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(b, forKey: .b)
                try container.encodeIfPresent(none, forKey: .none)
                try container.encodeNil(forKey: .explicitNull)
            }
        }

        var zeta = [Inner(), Inner(b: false)]
        var Alpha = "capital first"
        var a10 = 10
        var a9 = 9
        var date = Date(timeIntervalSince1970: 1_764_079_200.75)
        var whole = 2.0
        var fraction = 0.1
        var negative = -5
        var small: UInt8 = 255
        var empty: [Int] = []
        var emptyObject: [String: Int] = [:]
        var dictionary = ["b": "2", "a": "1/2", "B": "3"]
        var nested = [[1, 2], [3]]
        var optionalSet: String? = "present"
        var optionalNil: String? = nil
    }

    @Test func keysSortNullsNumbersDatesAndNestingMatchJSONEncoder() throws {
        #expect(MessageCoding.encode(Everything()) == (try Self.foundation(Everything())))
        #expect(MessageCoding.encode([Self.awkward: Self.awkward]) == (try Self.foundation([Self.awkward: Self.awkward])))
        #expect(MessageCoding.encode(["x", "y"]) == (try Self.foundation(["x", "y"])))
        #expect(MessageCoding.encode(42) == "42")
    }

    struct Decoded: Decodable, Equatable {
        struct Line: Decodable, Equatable {
            var id: UUID
            var quantity: Int
        }

        var text: String
        var number: Int
        var fraction: Double
        var flag: Bool
        var when: Date
        var id: UUID
        var lines: [Line]
        var optional: String?
        var absent: Int?
        var map: [String: String]
        var nested: [[Int]]
    }

    static let goodDocuments = [
        #"{"text":"plain","number":1,"fraction":0.5,"flag":true,"when":"2025-11-25T14:00:00Z","id":"e621e1f8-c36c-495a-93fc-0c247a3e6e5f","lines":[{"id":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":2}],"optional":null,"map":{},"nested":[]}"#,
        // As PostgreSQL prints jsonb: spaces after colons and commas, keys in its own order.
        #"{"id": "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "map": {"a": "1", "b": "\/"}, "flag": false, "text": "esc \" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 é", "when": "1970-01-01T00:00:00Z", "lines": [], "number": -42, "nested": [[1, 2], [], [3]], "absent": 7, "fraction": 1e3, "optional": "set"}"#,
        " \n\t{ \"text\" : \"\" , \"number\" : 0 , \"fraction\" : -0.25E-2 , \"flag\" : true , \"when\" : \"2000-02-29T23:59:59Z\" , \"id\" : \"00000000-0000-0000-0000-000000000000\" , \"lines\" : [ ] , \"map\" : { \"k\" : \"v\" } , \"nested\" : [ [ 9 ] ] } \n",
        // A repeated key: the first one counts, as in JSONDecoder.
        #"{"text":"first","text":"second","number":1,"fraction":0,"flag":true,"when":"2025-11-25T14:00:00Z","id":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","lines":[],"map":{},"nested":[]}"#,
    ]

    @Test(arguments: goodDocuments)
    func decodesWhatJSONDecoderDecodes(document: String) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let expected = try decoder.decode(Decoded.self, from: Data(document.utf8))
        #expect(try MessageCoding.decode(Decoded.self, from: document) == expected)
    }

    enum Failure: Equatable {
        case typeMismatch, valueNotFound, keyNotFound, dataCorrupted, other

        init(_ error: any Error) {
            switch error {
            case DecodingError.typeMismatch: self = .typeMismatch
            case DecodingError.valueNotFound: self = .valueNotFound
            case DecodingError.keyNotFound: self = .keyNotFound
            case DecodingError.dataCorrupted: self = .dataCorrupted
            default: self = .other
            }
        }
    }

    /// Not JSON by RFC 8259. (`JSONDecoder` lets some pass, such as `[1,]`, `01` and raw control
    /// characters in strings, and fails later on the shape; either way it is an error.)
    static let malformedDocuments = [
        "", "{", "}", "[1,]", #"{"quantity":1,}"#, #"{"quantity" 1}"#, #"{"quantity":01}"#, #"{"quantity":1.}"#,
        #"{"quantity":-}"#, #"{"quantity":tru}"#, #"{"quantity":1} x"#, "{\"quantity\":\"a\u{1}\"}", #"{"id":"\q"}"#,
        #"{"id":"\ud800"}"#, #"{"id":"abc"#,
    ]

    @Test(arguments: malformedDocuments)
    func malformedTextIsDataCorrupted(document: String) throws {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Decoded.Line.self, from: Data(document.utf8)) }
        do {
            _ = try MessageCoding.decode(Decoded.Line.self, from: document)
            Issue.record("decoded \(document)")
        } catch {
            #expect(Failure(error) == .dataCorrupted)
        }
    }

    /// JSON of the wrong shape.
    static let mistypedDocuments = [
        #"{"quantity":1}"#, #"{"id":null,"quantity":1}"#,
        #"{"id":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":"1"}"#, #"{"id":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":1.5}"#,
        #"{"id":"not-a-uuid","quantity":1}"#, #"{"id":7,"quantity":1}"#, #"{"id":true,"quantity":1}"#, "[]", "null", "1", #""text""#,
    ]

    @Test(arguments: mistypedDocuments)
    func mistypedJSONFailsAsJSONDecoderFails(document: String) throws {
        var foundation: Failure?
        do { _ = try JSONDecoder().decode(Decoded.Line.self, from: Data(document.utf8)) } catch { foundation = Failure(error) }
        var ours: Failure?
        do { _ = try MessageCoding.decode(Decoded.Line.self, from: document) } catch { ours = Failure(error) }
        #expect(foundation != nil)
        #expect(ours == foundation)
    }

    /// An integer field takes the integer a number spells, exactly, and nothing else. (Read
    /// through `Double`, `0.99999999999999999` was 1, `1e-400` was 0, and `9007199254740993.0`
    /// was 9007199254740992.)
    @Test(arguments: [
        ("7", 7), ("-7", -7), ("2.0", 2), ("1e2", 100), ("1E+2", 100), ("1.50e2", 150), ("-0.0", 0), ("0e999999", 0),
        ("12.300e1", 123), ("9007199254740993.0", 9_007_199_254_740_993), ("9223372036854775807", Int.max),
        ("-9223372036854775808", Int.min), ("922337203685477580.7e1", Int.max),
    ])
    func integersAreReadExactly(_ text: String, _ value: Int) {
        #expect(exactInteger(text, as: Int.self) == value)
    }

    @Test(arguments: ["0.99999999999999999", "1e-400", "1.5", "1e-1", "100e-3", "9223372036854775808", "1e19", "1e999999", "-9223372036854775809"])
    func numbersThatAreNotIntegersOfTheTypeAreRefused(_ text: String) {
        #expect(exactInteger(text, as: Int.self) == nil)
    }

    @Test func aMessagesIntegerMustBeOne() throws {
        #expect(throws: (any Error).self) {
            try MessageCoding.decode(TicketsReserved.self, from: #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":0.99999999999999999}"#)
        }
        #expect(try MessageCoding.decode(TicketsReserved.self, from: #"{"orderID":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","quantity":3.0e0}"#).quantity == 3)
    }

    @Test func writesUUIDsAsUUIDStringDoes() {
        let edges = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                     UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for id in edges + (0..<100).map({ _ in UUID() }) + [UUID.timeOrdered()] {
            #expect(id.text == id.uuidString)
            #expect(UUID(text: id.text) == id)
        }
    }

    @Test func readsUUIDsInEitherCaseAndNothingElse() throws {
        let id = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        #expect(try MessageCoding.decode(UUID.self, from: #""e621e1f8-c36c-495a-93fc-0c247a3e6e5f""#) == id)
        for bad in ["E621E1F8C36C495A93FC0C247A3E6E5F", "E621E1F8-C36C-495A-93FC-0C247A3E6E5", "E621E1F8-C36C-495A-93FC_0C247A3E6E5F",
                    "G621E1F8-C36C-495A-93FC-0C247A3E6E5F", "E621E1F8-C36C-495A-93FC-0C247A3E6E5FF"] {
            #expect(throws: DecodingError.self) { try MessageCoding.decode(UUID.self, from: "\"\(bad)\"") }
        }
    }
}
