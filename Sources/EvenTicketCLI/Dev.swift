import ArgumentParser
import Database
import EmbeddedPostgres
import EvenTicketApp
import Access
import Foundation
import HTTPAPI
import Inventory
import Logging
import Synchronization
import UnixSignals

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run everything in one process on a throwaway local PostgreSQL, with a demo event.")

    @OptionGroup var logging: LoggingOptions
    @OptionGroup var timeout: StepTimeoutOption
    @OptionGroup var compensation: CompensationTimeoutOption
    @Option(help: "Address to listen on (0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "HTTP port.") var port = 8080
    @Option(help: "Keep the PostgreSQL cluster in this folder across runs (default: a temporary one, deleted on exit).")
    var dataDir: String?
    @Flag(help: "Delete the cluster in --data-dir first (only the cluster: the folder must hold nothing else).") var fresh = false
    @OptionGroup var metrics: MetricsOptions

    func validate() throws {
        try validatePort(port)
        try metrics.validate(apartFrom: port)
        guard !fresh || dataDir != nil else {
            throw ValidationError("--fresh needs --data-dir (without it every run starts on a new throwaway cluster)")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger("eventicket.dev")
        let stepTimeout = try timeout.duration()
        let compensationTimeout = compensation.duration()
        let (host, port, dataDir, fresh) = (self.host, self.port, self.dataDir, self.fresh)
        // Until the services have taken over SIGINT and SIGTERM (the HTTP server is up), either
        // one ends the process at once, stopping the PostgreSQL started so far (see `DevPostgres`).
        // Trapped here, before anything starts (the sequence's init awaits their registration),
        // and watched from a task of its own. The start-up below blocks the thread the tasks run
        // on (`Main` runs them on one) while PostgreSQL starts, so a signal then is acted on
        // once it is up (`DevPostgres.interrupted` would wait for that anyway, to stop it).
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let startUp = Task.detached {
            for await signal in signals {
                logger.notice("interrupted during start-up; stopping", metadata: ["signal": "\(signal)"])
                DevPostgres.interrupted(exitStatus: signal == .sigint ? 130 : 143)
            }
        }
        defer { startUp.cancel() }
        try await reportingFailures {
            let postgres = try EmbeddedPostgres.start(.init(dataDirectory: dataDir, fresh: fresh), logger: logger)
            DevPostgres.started(postgres)
            defer { DevPostgres.stop() }
            let server = try DatabaseURL(postgres.url)
            try await DatabaseAdmin.createDatabaseIfMissing("eventicket", server: server, logger: logger)
            let url = server.with(database: "eventicket")
            var configuration = SystemConfiguration(
                api: APIConfiguration(host: host, port: port), stepTimeout: stepTimeout, compensationTimeout: compensationTimeout)
            let metricsServer = metrics.start(configuration: &configuration, logger: logger)
            let demo = DemoBox()
            try await runRoles(
                Set(Role.allCases), url: url, configuration: configuration, logger: logger, metrics: metricsServer,
                onServerRunning: { port in
                    startUp.cancel()
                    if let event = demo.event { printBanner(host: host, port: port, url: url, dataDirectory: dataDir, event: event, demo: demo) }
                },
                beforeStart: { box in
                    demo.event = try await Demo.ensureEvent(Catalog(client: box.client), logger: logger)
                    let tokens = AccessTokens(client: box.client)
                    demo.clientToken = try await tokens.create(name: "dev client", role: .client, logger: logger).token
                    demo.operatorToken = try await tokens.create(name: "dev operator", role: .operator, logger: logger).token
                })
        }
    }
}

/// dev's PostgreSQL, stopped (and a throwaway cluster deleted) however the process ends short
/// of a crash: when `run()` returns; on a signal during start-up; and before the shutdown
/// deadline's exit (see ``ShutdownDeadline/beforeExit``). A forced end stops it and then calls
/// `_exit`, not `exit`: another thread may be calling `exit` meanwhile (the main task, failing
/// as its sessions end), and glibc's `exit` is not safe to run twice at once. (A crashed or
/// killed process's throwaway cluster is reaped by the next command that starts one.)
enum DevPostgres {
    private struct State {
        var postgres: EmbeddedPostgres?
        /// Set by a signal before the server was up: the exit status to end with once it is.
        var interrupted: Int32?
    }

    private static let state = Mutex(State())

    /// The server is up; if a signal came while it was starting, the process ends now.
    static func started(_ postgres: EmbeddedPostgres) {
        ShutdownDeadline.beforeExit.withLock { $0 = { DevPostgres.stop(immediate: true) } }
        if let status = state.withLock({ state in
            state.postgres = postgres
            return state.interrupted
        }) {
            end(status)
        }
    }

    /// A signal during start-up: the process ends now, or, while the server is still being
    /// started, as soon as it is up (so that it is stopped, not left running).
    static func interrupted(exitStatus: Int32) {
        let up = state.withLock { state in
            state.interrupted = exitStatus
            return state.postgres != nil
        }
        if up { end(exitStatus) }
    }

    /// Stops it, once.
    static func stop(immediate: Bool = false) {
        state.withLock { $0.postgres.take() }?.stop(immediate: immediate)
    }

    private static func end(_ status: Int32) -> Never {
        stop(immediate: true)
        fflush(nil)
        _exit(status)
    }
}

/// The demo event and tokens, carried from start-up to the banner.
final class DemoBox: @unchecked Sendable {
    // Written once before the server starts, read after.
    var event: Catalog.Event?
    var clientToken = ""
    var operatorToken = ""
}

enum Demo {
    /// The first event in the catalog, or a newly created demo event.
    static func ensureEvent(_ catalog: Catalog, logger: Logger) async throws -> Catalog.Event {
        if let existing = try await catalog.firstEvent(logger: logger) { return existing }
        return try await catalog.createEvent(
            name: "EvenTicket Live: Demo Night",
            ticketTypes: [
                .init(name: "General admission", priceCents: 4500, currency: "EUR", capacity: 500),
                .init(name: "VIP", priceCents: 12000, currency: "EUR", capacity: 50),
            ],
            logger: logger)
    }
}

func printBanner(host: String, port: Int, url: DatabaseURL, dataDirectory: String?, event: Catalog.Event, demo: DemoBox) {
    let base = "http://\(bannerHost(host)):\(port)"
    let types = event.ticketTypes.map {
        "    \($0.name): \($0.ticketTypeId)  (\($0.priceCents / 100).\(String(format: "%02d", $0.priceCents % 100)) \($0.currency), \($0.available) left)"
    }
    let kept = dataDirectory.map { "kept in \($0)" } ?? "throwaway: give --data-dir to keep it"
    let first = event.ticketTypes.first?.ticketTypeId.uuidString ?? ""
    let text = """

    EvenTicket is running: API, orchestrator, inventory, invoicing and payment in one process.
      HTTP API:   \(base)
      PostgreSQL: \(url)  (\(kept))
      Demo event: \(event.name)  eventId=\(event.eventId)
    \(types.joined(separator: "\n"))
      Tokens (new each run):
        export TOKEN=\(demo.clientToken)      # client: orders, sagas, events
        export OPERATOR_TOKEN=\(demo.operatorToken)   # operator: also POST /events, GET /sagas

    Place an order:
      curl -s -XPOST \(base)/orders -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
        -d '{"customerId":"c-1","eventId":"\(event.eventId)","lines":[{"ticketTypeId":"\(first)","quantity":2}],"paymentToken":"tok_visa"}'
    Then: curl -s -H "Authorization: Bearer $TOKEN" \(base)/orders/<orderId>   (and /sagas/<sagaId>)
    Test tokens: tok_visa (charged), tok_declined, tok_timeout (saga times out), tok_flaky (retried).
    Ctrl-C stops everything.

    """
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Where a client on this machine reaches a server listening on `host`: the loopback address
/// for the wildcard ones, an IPv6 address in brackets, anything else as it is.
func bannerHost(_ host: String) -> String {
    switch host {
    case "0.0.0.0", "": return "127.0.0.1"
    case "::", "[::]": return "[::1]"
    default: return host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
