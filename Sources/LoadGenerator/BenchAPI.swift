import Foundation
import NIOCore
import NIOHTTP1

/// The few HTTP calls the bench makes: health, creating its event, placing orders.
struct BenchAPI: Sendable {
    /// `http://127.0.0.1:PORT`
    let baseURL: String
    let http: BenchHTTPClient
    /// Authorization and Content-Type for `POST /orders`, built once.
    let orderHeaders: HTTPHeaders

    /// The bench event's ids, spliced into every order body.
    struct Target: Sendable {
        var eventId: String
        var ticketTypeId: String
        /// `","eventId":"…","lines":[…],"paymentToken":"` between the customer number and the token.
        var bodyMiddle: String
    }

    /// The most tickets the API lets a ticket type hold.
    static let capacity = 1_000_000

    init(http: BenchHTTPClient, clientToken: String) {
        self.http = http
        baseURL = "http://\(http.host):\(http.port)"
        orderHeaders = ["Authorization": "Bearer " + clientToken, "Content-Type": "application/json"]
    }

    /// Waits until `GET /health` answers 200, calling `check` (children alive?) between tries.
    func waitUntilHealthy(timeout: Duration, check: () throws -> Void) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastProblem = "no answer"
        while ContinuousClock.now < deadline {
            try check()
            do {
                let response = try await http.send(http.request(.GET, "/health"))
                if response.status == 200 { return }
                lastProblem = "HTTP \(response.status)"
            } catch {
                lastProblem = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the API at \(baseURL) did not become healthy within \(timeout) (last: \(lastProblem))")
    }

    private struct CreatedEvent: Decodable {
        struct TicketType: Decodable { var ticketTypeId: String }
        var eventId: String
        var ticketTypes: [TicketType]
    }

    /// Creates the event the bench sells, with one ticket type of the largest capacity allowed.
    func createEvent(operatorToken: String) async throws -> Target {
        let json = #"{"name":"Bench","ticketTypes":[{"name":"Bench seat","priceCents":1000,"currency":"EUR","capacity":\#(Self.capacity)}]}"#
        let response = try await http.send(http.request(
            .POST, "/events", headers: ["Authorization": "Bearer " + operatorToken, "Content-Type": "application/json"],
            body: ByteBuffer(string: json)))
        guard response.status == 201,
              let event = try? JSONDecoder().decode(CreatedEvent.self, from: Data(buffer: response.body)),
              let ticketType = event.ticketTypes.first
        else {
            throw BenchError("POST /events answered \(response.status): \(String(buffer: response.body).prefix(300))")
        }
        let middle = #"","eventId":"\#(event.eventId)","lines":[{"ticketTypeId":"\#(ticketType.ticketTypeId)","quantity":1}],"paymentToken":""#
        return Target(eventId: event.eventId, ticketTypeId: ticketType.ticketTypeId, bodyMiddle: middle)
    }

    /// `POST /orders` for customer `bench-<number>` paying with `token`.
    func orderRequest(_ target: Target, number: Int, token: TokenMix.Token) -> BenchHTTPClient.Request {
        var body = ByteBufferAllocator().buffer(capacity: 48 + target.bodyMiddle.utf8.count)
        body.writeStaticString(#"{"customerId":"bench-"#)
        body.writeString(String(number))
        body.writeString(target.bodyMiddle)
        body.writeString(token.paymentToken)
        body.writeStaticString(#""}"#)
        return http.request(.POST, "/orders", headers: orderHeaders, body: body)
    }

    /// The `orderId` of a 202 body, `{"orderId":"…","sagaId":"…","status":"pending"}`, read
    /// without a JSON decoder (falling back to one for any other layout).
    static func orderID(in body: ByteBuffer) -> UUID? {
        let marker = Array(#""orderId":""#.utf8)
        let bytes = body.readableBytesView
        if let range = bytes.firstRange(of: marker) {
            let start = range.upperBound
            if bytes.distance(from: start, to: bytes.endIndex) >= 36 {
                let end = bytes.index(start, offsetBy: 36)
                if let id = UUID(uuidString: String(decoding: bytes[start..<end], as: UTF8.self)) { return id }
            }
        }
        struct Accepted: Decodable { var orderId: UUID }
        return try? JSONDecoder().decode(Accepted.self, from: Data(buffer: body)).orderId
    }
}
