import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// A process's metrics in Prometheus's text format: the swift-metrics backend that collects
/// what the services report (the bus, the intake, Hummingbird's requests), and the server that
/// answers `GET /metrics` with it.
public struct PrometheusExport: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Hops and requests take milliseconds; a batch under load tens of them.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        factory.nameAndLabelSanitizer = { name, labels in (Self.prometheusNames[name] ?? name, labels) }
        self.factory = factory
    }

    /// Hummingbird's metric names as Prometheus's conventions spell them (a unit, `_total`).
    static let prometheusNames = [
        "hb.requests": "http_server_requests_total",
        "hb.request.errors": "http_server_request_errors_total",
        "http.server.request.duration": "http_server_request_duration_seconds",
    ]

    /// Makes this the process's metrics backend. Call it once, before the services are made:
    /// swift-metrics takes one backend per process, and each metric keeps the backend it was
    /// made with.
    public func bootstrap() {
        MetricsSystem.bootstrap(factory)
    }

    /// The exposition, as `GET /metrics` answers it.
    public func render() -> ByteBuffer {
        ByteBuffer(bytes: registry.emitToBuffer())
    }

    /// The server of `GET /metrics` (and nothing else) on `host`:`port`, a service of its own
    /// beside the process's others. `onServerRunning` gets the port it listens on.
    public func server(host: String, port: Int, logger: Logger,
                       onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "EvenTicket metrics"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// `GET /metrics`.
    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: self.render()))
        }
        return router
    }
}
