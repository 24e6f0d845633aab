import Database
import EvenTicketContracts
import Foundation
import PostgresNIO

/// Creating sagas with their first history and deadline, as the members of a `WITH` clause.
///
/// The orchestrator runs them as a prepared statement of its own (``SagaStatements/Start``).
/// The HTTP API's order intake composes them into the statement that also stores the orders and
/// publishes the sagas' first commands (see ``StatementPart``), so an order and its saga are
/// written in one round trip.
public struct SagaStartInsert: Sendable {
    /// Parameters `$1` to `$17`.
    public static let parameterCount = 17

    /// The members `started` (the ids of the sagas created; an id that exists is skipped),
    /// `started_history` and `started_alarms` (see `migrations/0012_deadline_alarms.sql`).
    /// With `onlySagasIn` (a subquery that yields saga ids, all of them new), only those sagas
    /// are created, and without checking for existing ids (a plain insert costs less than
    /// `ON CONFLICT`; an id that exists anyway fails the statement).
    public static func ctes(onlySagasIn sagas: String? = nil) -> String {
        """
        started AS (
            INSERT INTO orchestrator.sagas (id, state, step, reason, failure, finished_steps, compensation_queue, token,
                                            compensation_attempts, history_seq, due_at, deadline_token, order_id, order_data)
            SELECT u.id, u.state, u.step, NULLIF(u.reason, ''), NULLIF(u.failure, ''), string_to_array(u.finished, ','),
                   string_to_array(u.queue, ','), u.token, u.attempts, u.history_seq,
                   CASE WHEN u.deadline_ms >= 0 THEN \(SagaStatements.newDueAt) END,
                   CASE WHEN u.deadline_ms >= 0 THEN u.deadline_token END, u.order_id, u.order_data::jsonb
              FROM \(SagaStatements.sagaRows([("$16::uuid[]", "order_id"), ("$17::text[]", "order_data")]))
            \(sagas.map { "WHERE u.id IN (\($0))" } ?? "ON CONFLICT DO NOTHING")
            RETURNING id, due_at),
        started_history AS (
            \(SagaStatements.historyInsert) WHERE h.saga_id IN (SELECT id FROM started)
            RETURNING 1),
        started_alarms AS (
            INSERT INTO orchestrator.deadlines (saga_id, due_at)
            SELECT id, due_at FROM started WHERE due_at IS NOT NULL
            RETURNING 1)
        """
    }

    let sagas: SagaStatements.SagaColumns
    let history: SagaStatements.TransitionColumns
    let orderIDs: [UUID]
    /// Each saga's order, as JSON.
    let orders: [String]

    /// The rows of a planned start.
    public init(_ plan: SagaEngine.StartPlan) {
        self.init(plan.changes)
    }

    init(_ changes: [SagaStore.Change]) {
        self.sagas = SagaStore.sagaColumns(changes)
        self.history = SagaStore.historyColumns(of: changes)
        self.orderIDs = changes.map(\.saga.order.orderID)
        self.orders = changes.map { MessageCoding.encode($0.saga.order) }
    }

    /// Appends the values of `$1` to `$17`, in order.
    public func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(sagas)
        bindings.append(history)
        bindings.append(orderIDs)
        bindings.append(orders)
    }
}
