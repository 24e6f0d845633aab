import Access
import EvenTicketApp
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A request that is not valid HTTP/1.1 is answered with a problem body like every other bad
/// request; before, the parser's error was answered with a bare 400.
@Suite("Malformed HTTP requests", .timeLimit(.minutes(1)))
struct MalformedRequestTests {
    @Test func aRequestLineOverTheParsersLimitGetsAProblemBody() async throws {
        let answer = try await Self.exchange("GET /" + String(repeating: "a", count: 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer.prefix(200))")
        #expect(answer.lowercased().contains("content-type: application/problem+json\r\n"))
        #expect(answer.lowercased().contains("connection: close\r\n"))
        let body = try #require(answer.components(separatedBy: "\r\n\r\n").last)
        let problem = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(problem["status"] as? Int == 400)
        #expect(problem["title"] as? String == "Malformed request")
        #expect((problem["detail"] as? String)?.contains("too large") == true, "\(problem)")
    }

    @Test func aMalformedRequestPipelinedBehindAGoodOneIsAnsweredAfterIt() async throws {
        let answer = try await Self.exchange(
            "GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /openapi.json HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.prefix(200))")
        let second = try #require(answer.range(of: "HTTP/1.1 400 Bad Request\r\n"), "\(answer.suffix(400))")
        #expect(answer[second.upperBound...].contains(#""detail":"a header is malformed""#), "\(answer.suffix(400))")
    }

    @Test func aRequestLineEndedByABareLineFeedIsToldToEndInCRLF() async throws {
        // It was told that "the HTTP version is not valid".
        let answer = try await Self.exchange("GET /openapi.json HTTP/1.1\nHost: x\n\n")
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer.prefix(200))")
        #expect(answer.contains(#""detail":"the request line must end with the HTTP version and CRLF""#), "\(answer)")
    }

    @Test func aMalformedChunkInABodyTheRouteReadsIsA400ProblemNotA413() async throws {
        let answer = try await Self.exchange(
            "POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer.prefix(300))")
        #expect(answer.contains(#""detail":"the request body was malformed or cut short""#), "\(answer)")
        #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer: \(answer)")
    }

    @Test func aMalformedChunkInARequestAnsweredBeforeItsBodyGetsNoSecondAnswer() async throws {
        // Answered 401 before its body is read; the parser then fails on the body. Hummingbird
        // answered that with a second response (a bare 400) to the same request.
        let answer = try await Self.exchange(
            "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(answer.prefix(300))")
        #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer: \(answer)")
    }

    /// Sends `request` as it is to a running API (with a client token in place of `{TOKEN}`) and
    /// returns all it answers before it closes the connection.
    static func exchange(_ request: String) async throws -> String {
        let answer = Answer()
        try await TestSystem.withDatabase { client, logger in
            let app = buildApplication(
                configuration: APIConfiguration(port: 0), client: client, engine: SystemConfiguration().sagaEngine, logger: logger)
            let token = try await AccessTokens(client: client).create(name: "raw", role: .client, logger: logger).token
            let request = request.replacingOccurrences(of: "{TOKEN}", with: token)
            try await app.test(.live) { http in
                let port = try #require(http.port)
                let channel = try await ClientBootstrap(group: NIOSingletons.posixEventLoopGroup)
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                let text = try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: request))
                    var received = ByteBuffer()
                    for try await chunk in inbound { received.writeImmutableBuffer(chunk) }
                    return String(buffer: received)
                }
                answer.text.withLock { $0 = text }
            }
        }
        return answer.text.withLock { $0 }
    }

    final class Answer: Sendable {
        let text = Mutex("")
    }
}
