import EvenTicketContracts
import Foundation
@testable import Orchestrator
import Testing

/// The saga history's entries are written as JSON by hand; they must read back as what they say.
@Suite("Saga history JSON")
struct SagaHistoryJSONTests {
    struct Mirror: Encodable {
        var detail: [String: String]
        var kind: String
        var message: String
        var messageId: UUID?

        enum CodingKeys: String, CodingKey { case detail, kind, message, messageId }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(detail, forKey: .detail)
            try container.encode(kind, forKey: .kind)
            try container.encode(message, forKey: .message)
            try container.encode(messageId, forKey: .messageId) // null when nil, as the history has it
        }
    }

    @Test func entriesAreTheCanonicalJSONOfTheirFields() throws {
        let id = UUID()
        let entries: [[SagaStore.HistoryEntry]] = [
            [],
            [SagaStore.HistoryEntry(kind: "received", message: "TicketsReserved", messageID: id)],
            [
                SagaStore.HistoryEntry(kind: "sent", message: "ChargePayment", messageID: id, detail: ["b": "2", "a": "quote \" and \\ and \n"]),
                SagaStore.HistoryEntry(kind: "state", message: "compensating \u{1F39F}", detail: ["reason": "payment_declined"]),
            ],
        ]
        for transition in entries {
            let expected = MessageCoding.encode(transition.map {
                Mirror(detail: $0.detail, kind: $0.kind, message: $0.message, messageId: $0.messageID)
            })
            #expect(SagaStore.json(transition) == expected)
            #expect(try JSONSerialization.jsonObject(with: Data(SagaStore.json(transition).utf8)) is [Any])
        }
        #expect(SagaStore.json([SagaStore.HistoryEntry(kind: "k", message: "m")]) == #"[{"detail":{},"kind":"k","message":"m","messageId":null}]"#)
    }
}
