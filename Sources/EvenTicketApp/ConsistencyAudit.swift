import Database
import Foundation
import Logging
import PostgresNIO

/// Checks the invariants that must hold across every service once the system is quiet.
///
/// The auditor is an operator tool: it is the one place that reads every service's schema,
/// and it only reads. Each check is one SQL query that returns the rows that violate it.
public struct ConsistencyAudit: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    /// One broken invariant, with the rows that break it.
    public struct Violation: Sendable, Codable, Equatable {
        public var check: String
        public var subject: String
        public var detail: String
    }

    public struct DeadLetter: Sendable, Codable, Equatable {
        public var id: UUID
        public var type: String
        public var sagaId: UUID
        public var error: String
    }

    public struct Report: Sendable, Codable, Equatable {
        public var orders: [String: Int]
        public var sagas: [String: Int]
        public var violations: [Violation]
        public var deadLetters: [DeadLetter]
        public var clean: Bool { violations.isEmpty }
    }

    /// Runs every check. Orders pending for less than `pendingGrace` are not yet violations.
    public func run(pendingGrace: Duration = .seconds(60), logger: Logger) async throws -> Report {
        let graceSeconds = Double(pendingGrace.components.seconds)
        var violations: [Violation] = []
        for check in Self.checks {
            let rows = try await client.query(check.query(graceSeconds), logger: logger)
            for try await (subject, detail) in rows.decode((String, String).self) {
                violations.append(Violation(check: check.name, subject: subject, detail: detail))
            }
        }
        var deadLetters: [DeadLetter] = []
        for try await (id, type, saga, error) in try await client.query(
            "SELECT id, type, saga_id, error FROM bus.dead_letters ORDER BY dead_at", logger: logger
        ).decode((UUID, String, UUID, String).self) {
            deadLetters.append(DeadLetter(id: id, type: type, sagaId: saga, error: error))
        }
        return Report(
            orders: try await counts("SELECT status, count(*)::int FROM ordering.orders GROUP BY status", logger: logger),
            sagas: try await counts("SELECT state, count(*)::int FROM orchestrator.sagas GROUP BY state", logger: logger),
            violations: violations, deadLetters: deadLetters)
    }

    private func counts(_ query: PostgresQuery, logger: Logger) async throws -> [String: Int] {
        var result: [String: Int] = [:]
        for try await (key, count) in try await client.query(query, logger: logger).decode((String, Int).self) {
            result[key] = count
        }
        return result
    }

    struct Check: Sendable {
        var name: String
        var query: @Sendable (Double) -> PostgresQuery
    }

    static let checks: [Check] = [
        Check(name: "order_not_terminal") { grace in
            """
            SELECT id::text, 'pending since ' || created_at::text FROM ordering.orders
             WHERE status = 'pending' AND created_at < now() - \(grace) * interval '1 second'
            """
        },
        Check(name: "order_without_saga_outcome") { _ in
            """
            SELECT o.id::text, 'order ' || o.status || ', saga ' || coalesce(s.state, 'missing') FROM ordering.orders o
              LEFT JOIN orchestrator.sagas s ON s.id = o.saga_id
             WHERE s.id IS NULL
                OR (o.status = 'confirmed' AND s.state <> 'completed')
                OR (o.status = 'rejected' AND s.state NOT IN ('compensated', 'failed'))
                OR (o.status = 'pending' AND s.state IN ('completed', 'compensated', 'failed'))
            """
        },
        Check(name: "saga_stuck") { _ in
            """
            SELECT s.id::text, s.state || ' at ' || s.step || ' with nothing on the bus and no deadline to move it' FROM orchestrator.sagas s
             WHERE s.state IN ('running', 'compensating')
               AND NOT EXISTS (SELECT 1 FROM bus.messages m WHERE m.saga_id = s.id)
               AND NOT EXISTS (SELECT 1 FROM orchestrator.deadlines d WHERE d.saga_id = s.id)
            """
        },
        Check(name: "deadline_alarm_late") { _ in
            // The sweeper looks at a saga only when its alarm rings, so a deadline without an
            // alarm at or before it would fire late or never.
            """
            SELECT s.id::text, 'deadline at ' || s.due_at || ', alarm ' || coalesce(a.due_at::text, 'missing')
              FROM orchestrator.sagas s LEFT JOIN orchestrator.deadlines a ON a.saga_id = s.id
             WHERE s.due_at IS NOT NULL AND (a.saga_id IS NULL OR a.due_at > s.due_at)
            """
        },
        Check(name: "capacity_mismatch") { _ in
            """
            SELECT t.id::text, 'capacity ' || t.capacity || ' <> available ' || t.available || ' + held ' || coalesce(h.held, 0)
              FROM inventory.ticket_types t
              LEFT JOIN (SELECT (l->>'ticketTypeID')::uuid AS id, sum((l->>'quantity')::int) AS held
                           FROM inventory.reservations r, jsonb_array_elements(r.lines) l
                          WHERE r.status = 'held' GROUP BY 1) h ON h.id = t.id
             WHERE t.capacity <> t.available + coalesce(h.held, 0)
            """
        },
        Check(name: "sold_mismatch") { _ in
            """
            WITH sold AS (
                SELECT (l->>'ticketTypeId')::uuid AS id, sum((l->>'quantity')::int) AS n
                  FROM ordering.orders o, jsonb_array_elements(o.lines) l WHERE o.status = 'confirmed' GROUP BY 1),
            held AS (
                SELECT (l->>'ticketTypeID')::uuid AS id, sum((l->>'quantity')::int) AS n
                  FROM inventory.reservations r, jsonb_array_elements(r.lines) l WHERE r.status = 'held' GROUP BY 1)
            SELECT t.id::text, 'confirmed orders hold ' || coalesce(sold.n, 0) || ' tickets, inventory holds ' || coalesce(held.n, 0)
              FROM inventory.ticket_types t LEFT JOIN sold ON sold.id = t.id LEFT JOIN held ON held.id = t.id
             WHERE NOT EXISTS (SELECT 1 FROM orchestrator.sagas s WHERE s.state IN ('running', 'compensating'))
               AND coalesce(sold.n, 0) <> coalesce(held.n, 0)
            """
        },
        Check(name: "held_after_saga_ended") { _ in
            """
            SELECT r.saga_id::text, r.quantity || ' tickets held for a ' || s.state || ' saga' FROM inventory.reservations r
              JOIN orchestrator.sagas s ON s.id = r.saga_id
             WHERE r.status = 'held' AND s.state IN ('compensated', 'failed')
            """
        },
        Check(name: "confirmed_order_money") { _ in
            """
            SELECT o.id::text, 'total ' || o.total_cents || ', charges ' || coalesce(g.charges, 0) || ', kept ' || coalesce(g.kept, 0)
                   || ', invoice ' || coalesce(i.status, 'none')
              FROM ordering.orders o
              LEFT JOIN (SELECT saga_id, count(*) FILTER (WHERE kind = 'charge') AS charges, sum(amount_cents) AS kept
                           FROM payment.gateway_ledger GROUP BY saga_id) g ON g.saga_id = o.saga_id
              LEFT JOIN invoicing.invoices i ON i.saga_id = o.saga_id
             WHERE o.status = 'confirmed'
               AND (coalesce(g.charges, 0) <> 1 OR coalesce(g.kept, 0) <> o.total_cents OR coalesce(i.status, 'none') <> 'issued')
            """
        },
        Check(name: "rejected_order_money") { _ in
            """
            SELECT o.id::text, 'kept ' || coalesce(g.kept, 0) || ', invoice ' || coalesce(i.status, 'none')
                   || ', reservation ' || coalesce(r.status, 'none')
              FROM ordering.orders o
              JOIN orchestrator.sagas s ON s.id = o.saga_id AND s.state = 'compensated'
              LEFT JOIN (SELECT saga_id, sum(amount_cents) AS kept FROM payment.gateway_ledger GROUP BY saga_id) g ON g.saga_id = o.saga_id
              LEFT JOIN invoicing.invoices i ON i.saga_id = o.saga_id
              LEFT JOIN inventory.reservations r ON r.saga_id = o.saga_id
             WHERE o.status = 'rejected'
               AND (coalesce(g.kept, 0) <> 0 OR coalesce(i.status, 'void') <> 'void' OR coalesce(r.status, 'released') = 'held')
            """
        },
        Check(name: "failed_saga") { _ in
            "SELECT id::text, coalesce(failure, 'failed') FROM orchestrator.sagas WHERE state = 'failed'"
        },
    ]
}
