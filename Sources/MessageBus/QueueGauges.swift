import Database
import EvenTicketContracts
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Reads the depth of some queues every ``interval`` and reports it through swift-metrics:
/// `eventicket_bus_queue_messages{queue,state="due"|"delayed"}` (a message claimed by a
/// transaction still open counts as due), `eventicket_bus_queue_oldest_due_seconds{queue}`
/// (how long the oldest due message has been due: a consumer that falls behind, or none
/// running, shows here first) and `eventicket_bus_dead_letters{queue}`.
///
/// Each process samples the queues it consumes, so a queue with several consumer processes is
/// reported by each of them (take the `max` across instances). A sample counts the queue's
/// rows in its index (58 ms for a million queued messages on the build machine, vacuumed, so
/// an index-only scan; more while they churn) and reads the dead letters (a table kept small
/// by operators), once every 5 s.
public struct QueueGauges: Service {
    public static let interval = Duration.seconds(5)

    let client: PostgresClient
    let queues: [Queue]
    let interval: Duration
    let logger: Logger
    private let gauges: [Queue: (due: Gauge, delayed: Gauge, oldestDue: Gauge, deadLetters: Gauge)]

    public init(client: PostgresClient, queues: [Queue], interval: Duration = QueueGauges.interval, logger: Logger,
                factory: any MetricsFactory = MetricsSystem.factory) {
        self.client = client
        self.queues = queues
        self.interval = interval
        self.logger = logger
        var gauges: [Queue: (due: Gauge, delayed: Gauge, oldestDue: Gauge, deadLetters: Gauge)] = [:]
        for queue in queues {
            let name = ("queue", queue.rawValue)
            gauges[queue] = (
                Gauge(label: "eventicket_bus_queue_messages", dimensions: [name, ("state", "due")], factory: factory),
                Gauge(label: "eventicket_bus_queue_messages", dimensions: [name, ("state", "delayed")], factory: factory),
                Gauge(label: "eventicket_bus_queue_oldest_due_seconds", dimensions: [name], factory: factory),
                Gauge(label: "eventicket_bus_dead_letters", dimensions: [name], factory: factory))
        }
        self.gauges = gauges
    }

    /// Each sample runs under a ``ConnectionWatchdog``, so that a stalled connection neither
    /// freezes the gauges nor holds up a shutdown.
    public func run() async throws {
        let watchdog = ConnectionWatchdog(timeout: .seconds(30), drain: .seconds(2), logger: logger)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await watchdog.run(on: connection, "sampling the queues") { try await sample(on: connection) }
                    }
                } catch {
                    if Task.isCancelled || Task.isShuttingDownGracefully { break }
                    // The gauges keep their last values; the next sample tries again.
                    logger.notice("could not sample the queues for the metrics", metadata: ["error": "\(error.diagnosticDescription)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One sample on a pooled connection, without the watchdog (for tests).
    func sample() async throws {
        try await client.withConnection { try await sample(on: $0) }
    }

    /// Reads every queue's depth once and sets the gauges.
    func sample(on connection: PostgresConnection) async throws {
        let names = queues.map(\.rawValue)
        let rows = try await connection.query(
            """
            SELECT q.queue,
                   (SELECT count(*) FROM bus.messages m WHERE m.queue = q.queue AND m.visible_at <= now()),
                   (SELECT count(*) FROM bus.messages m WHERE m.queue = q.queue AND m.visible_at > now()),
                   coalesce(extract(epoch FROM now() - (SELECT min(m.visible_at) FROM bus.messages m
                                                         WHERE m.queue = q.queue AND m.visible_at <= now())), 0)::float8,
                   (SELECT count(*) FROM bus.dead_letters d WHERE d.queue = q.queue)
              FROM unnest(\(names)::text[]) AS q(queue)
            """, logger: logger)
        for try await (name, due, delayed, oldestDue, deadLetters) in rows.decode((String, Int, Int, Double, Int).self) {
            guard let queue = Queue(rawValue: name), let gauges = gauges[queue] else { continue }
            gauges.due.record(due)
            gauges.delayed.record(delayed)
            gauges.oldestDue.record(oldestDue)
            gauges.deadLetters.record(deadLetters)
        }
    }
}
