import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request that is not valid HTTP/1.1 (a request line or header block over the
/// parser's limits, a malformed header, …) with a problem body, as every other bad request is
/// answered. Without it, Hummingbird answers NIO's parser error with a bare 400 before the
/// application ever sees the request.
///
/// It sits between the HTTP/1 codec and Hummingbird and takes over only between requests, once
/// every request read so far has been answered (a pipelined request's answer is written first);
/// a parser error in the middle of a request's body still reaches Hummingbird, which fails that
/// request. The connection is closed after the answer: the parser cannot go on after an error.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var requestsStarted = 0
    private var requestsEnded = 0
    private var responsesEnded = 0
    private var waiting: HTTPParserError?
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: requestsStarted += 1
        case .end: requestsEnded += 1
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ends = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        guard ends else { return }
        responsesEnded += 1
        if let error = waiting, responsesEnded == requestsStarted {
            waiting = nil
            answer(error, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, requestsEnded == requestsStarted, !answered, waiting == nil else {
            context.fireErrorCaught(error)
            return
        }
        if responsesEnded == requestsStarted {
            answer(parserError, context: context)
        } else {
            waiting = parserError
        }
    }

    private func answer(_ error: HTTPParserError, context: ChannelHandlerContext) {
        answered = true
        let body = ByteBuffer(string: Problem(.badRequest, "Malformed request", detail: Self.detail(for: error)).json)
        var head = HTTPResponse(status: .badRequest)
        head.headerFields[.contentType] = "application/problem+json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    static func detail(for error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: "the request line and headers are too large (at most 80 KiB)"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment: "the request target is not a valid URL"
        case .invalidMethod: "the request method is not valid"
        case .invalidVersion: "the HTTP version is not valid"
        case .invalidHeaderToken, .invalidCharactersUsed, .lfExpected: "a header is malformed"
        case .invalidContentLength, .unexpectedContentLength: "the Content-Length header is not valid"
        default: "the request is not valid HTTP/1.1"
        }
    }
}
