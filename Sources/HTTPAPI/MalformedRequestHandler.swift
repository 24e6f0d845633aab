import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Gives the answer to a request that is not valid HTTP/1.1 (a request line or header block over
/// the parser's limits, a malformed header, …) a problem body, as every other bad request has.
///
/// Hummingbird answers NIO's parser error itself, before the application sees a request: once
/// every request read before has been answered, it writes a bare `400` (`Content-Length: 0`,
/// `Connection: close`), half-closes the connection and stops reading. This handler, between the
/// HTTP/1 codec and Hummingbird, leaves all of that as it is and only fills in that answer: it
/// notes the parser error on its way through, and when the next response head written is a
/// `400` with every request started so far already answered, which only Hummingbird's answer to
/// the parser error can be, it adds the problem body to it.
///
/// A parser error in the middle of a request's body is different: that request has had its
/// answer already (the route's, a 401 say, or a problem for the broken body), and Hummingbird's
/// `400` would be a second answer to it, which a client would take for the answer to its next
/// request. That `400` is dropped; the connection is closed all the same.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var requestsStarted = 0
    private var requestsEnded = 0
    private var responsesEnded = 0
    private var parserError: HTTPParserError?
    /// The parser error came in the middle of a request's body.
    private var midBody = false
    /// Dropping Hummingbird's second answer, up to its end.
    private var dropping = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: requestsStarted += 1
        case .end: requestsEnded += 1
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if parserError == nil, let error = error as? HTTPParserError {
            parserError = error
            midBody = requestsEnded < requestsStarted
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if dropping {
            if case .end = part { dropping = false }
            promise?.succeed(())
            return
        }
        if case .head(var head) = part, head.status == .badRequest, responsesEnded == requestsStarted, let error = parserError {
            parserError = nil
            if midBody {
                dropping = true
                promise?.succeed(())
                return
            }
            let body = ByteBuffer(string: Problem(.badRequest, "Malformed request", detail: Self.detail(for: error)).json)
            head.headerFields[.contentType] = "application/problem+json"
            head.headerFields[.contentLength] = String(body.readableBytes)
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            return
        }
        if case .end = part { responsesEnded += 1 }
        context.write(data, promise: promise)
    }

    static func detail(for error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: "the request line and headers are too large (at most 80 KiB)"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment: "the request target is not a valid URL"
        case .invalidMethod: "the request method is not valid"
        // Also what a request line ended by a bare LF gets: the parser reads the LF as part of the version.
        case .invalidVersion: "the request line must end with the HTTP version and CRLF"
        case .invalidHeaderToken, .invalidCharactersUsed, .lfExpected: "a header is malformed"
        case .invalidContentLength, .unexpectedContentLength: "the Content-Length header is not valid"
        default: "the request is not valid HTTP/1.1"
        }
    }
}
