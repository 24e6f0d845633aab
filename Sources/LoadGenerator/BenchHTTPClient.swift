import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The bench's HTTP/1.1 client: keep-alive connections to one `http://host:port`, one request
/// at a time per connection, each request written whole with one flush.
///
/// The load generator shares the machine with the system it measures, so what it spends is
/// taken from that system. A general client (AsyncHTTPClient) cost the bench 0.25–0.4 ms of CPU
/// per order here, and flushed each request's head and body separately, as two TCP segments,
/// so that the server read each request in two wake-ups. This one is NIO's HTTP/1 client codec
/// and a handler that matches each request with its answer.
final class BenchHTTPClient: Sendable {
    /// An answer: status code and body.
    struct Response: Sendable {
        var status: Int
        var body: ByteBuffer
    }

    private struct Connection: Sendable {
        var channel: any Channel
    }

    private struct Pool {
        var idle: [Connection] = []
        var open = 0
        var waiters: [CheckedContinuation<Connection?, Never>] = []
        var closed = false
    }

    let host: String
    let port: Int
    private let maximumConnections: Int
    private let group: any EventLoopGroup
    private let pool = Mutex(Pool())

    /// `baseURL` is `http://host:port` (no TLS: the bench talks to a system it can reach directly).
    init(baseURL: String, maximumConnections: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard let components = URLComponents(string: baseURL), components.scheme == "http", let host = components.host else {
            throw BenchError("the API URL must look like http://host:port, not \(baseURL)")
        }
        self.host = host
        self.port = components.port ?? 80
        self.maximumConnections = max(maximumConnections, 1)
        self.group = group
    }

    /// A request to send.
    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer
    }

    /// A request with `Host`, the given headers and `Content-Length`.
    func request(_ method: HTTPMethod, _ path: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) -> Request {
        var headers = headers
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        return Request(head: HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers), body: body)
    }

    /// Sends one request and returns the answer.
    func send(_ request: Request) async throws -> Response {
        let connection = try await lease()
        let reply = Reply(connection.channel.eventLoop.makePromise(of: Response.self))
        // A write that fails before the handler takes the request (the connection just closed)
        // must fail the reply too; whichever side completes it first wins.
        connection.channel.writeAndFlush(ExchangeHandler.Exchange(request: request, reply: reply)).whenFailure { reply.fail($0) }
        do {
            let response = try await reply.future.get()
            release(connection, reusable: true)
            return response
        } catch {
            release(connection, reusable: false)
            throw error
        }
    }

    /// Closes every connection; requests waiting for one fail.
    func shutdown() async {
        let (idle, waiters) = pool.withLock { pool in
            pool.closed = true
            defer { pool.idle.removeAll(); pool.waiters.removeAll() }
            return (pool.idle, pool.waiters)
        }
        waiters.forEach { $0.resume(returning: nil) }
        for connection in idle { try? await connection.channel.close() }
    }

    private enum Lease {
        case use(Connection)
        case open
        case wait
        case closed
    }

    private func lease() async throws -> Connection {
        while true {
            if let connection = try await leaseOnce() { return connection }
        }
    }

    /// A connection, or nil when a place freed up while waiting (try again).
    private func leaseOnce() async throws -> Connection? {
        let lease = pool.withLock { pool -> Lease in
            if pool.closed { return .closed }
            if let connection = pool.idle.popLast() { return .use(connection) }
            if pool.open < maximumConnections {
                pool.open += 1
                return .open
            }
            return .wait
        }
        switch lease {
        case .use(let connection):
            return connection
        case .open:
            do {
                return try await connect()
            } catch {
                release(nil, reusable: false)
                throw error
            }
        case .wait:
            let connection = await withCheckedContinuation { (continuation: CheckedContinuation<Connection?, Never>) in
                let closed = pool.withLock { pool -> Bool in
                    if pool.closed { return true }
                    pool.waiters.append(continuation)
                    return false
                }
                if closed { continuation.resume(returning: nil) }
            }
            if connection == nil, pool.withLock({ $0.closed }) { throw BenchError("the bench's HTTP client is shut down") }
            return connection
        case .closed:
            throw BenchError("the bench's HTTP client is shut down")
        }
    }

    /// Hands a connection back: to the next waiter, or to the idle list. A connection that
    /// failed (or nil, a connect that failed) frees its place, and the next waiter tries again
    /// (opening a new connection in that place).
    private func release(_ connection: Connection?, reusable: Bool) {
        let keep = connection.map { reusable && $0.channel.isActive } ?? false
        let waiter = pool.withLock { pool -> CheckedContinuation<Connection?, Never>? in
            if let connection, keep, !pool.closed {
                if pool.waiters.isEmpty {
                    pool.idle.append(connection)
                    return nil
                }
                return pool.waiters.removeFirst()
            }
            pool.open -= 1
            return pool.waiters.isEmpty ? nil : pool.waiters.removeFirst()
        }
        if let connection, !keep { connection.channel.close(promise: nil) }
        waiter?.resume(returning: keep ? connection : nil)
    }

    private func connect() async throws -> Connection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .dropBytes)
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
            .connect(host: host, port: port)
            .get()
        return Connection(channel: channel)
    }
}

/// A request's answer, completed once by whichever comes first: the answer, the connection's
/// end, or a write that failed.
private final class Reply: Sendable {
    private let promise: EventLoopPromise<BenchHTTPClient.Response>
    private let completed = Mutex(false)

    init(_ promise: EventLoopPromise<BenchHTTPClient.Response>) { self.promise = promise }

    var future: EventLoopFuture<BenchHTTPClient.Response> { promise.futureResult }

    func succeed(_ response: BenchHTTPClient.Response) { if first() { promise.succeed(response) } }
    func fail(_ error: any Error) { if first() { promise.fail(error) } }

    private func first() -> Bool {
        completed.withLock { done in
            defer { done = true }
            return !done
        }
    }
}

/// Writes one request and completes its reply with the answer; fails it when the connection
/// ends or errs first.
private final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Exchange: Sendable {
        var request: BenchHTTPClient.Request
        var reply: Reply
    }

    private var pending: Reply?
    private var status = 0
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            exchange.reply.fail(BenchError("a request was sent on a busy connection"))
            return
        }
        pending = exchange.reply
        status = 0
        body = nil
        context.write(wrapOutboundOut(.head(exchange.request.head)), promise: nil)
        if exchange.request.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(exchange.request.body))), promise: nil)
        }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            let promise = pending
            pending = nil
            promise?.succeed(.init(status: status, body: body ?? ByteBuffer()))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(BenchError("the connection to the API closed"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(BenchError("the connection to the API closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        let promise = pending
        pending = nil
        promise?.fail(error)
    }
}
