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
    /// Parameters `$1` to `$18`.
    public static let parameterCount = 18

    /// The members `started` (the ids of the sagas created; an id that exists is skipped),
    /// `started_history` and `started_deadlines`. With `onlySagasIn` (a subquery that yields saga
    /// ids), only those sagas are created.
    public static func ctes(onlySagasIn sagas: String? = nil) -> String {
        """
        started AS (
            INSERT INTO orchestrator.sagas (id, state, step, reason, failure, finished_steps, compensation_queue, token,
                                            compensation_attempts, history_seq, order_id, order_data)
            SELECT u.id, u.state, u.step, NULLIF(u.reason, ''), NULLIF(u.failure, ''), string_to_array(u.finished, ','),
                   string_to_array(u.queue, ','), u.token, u.attempts, u.history_seq, u.order_id, u.order_data::jsonb
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[],
                          $9::integer[], $10::integer[], $14::uuid[], $15::text[])
                   AS u(id, state, step, reason, failure, finished, queue, token, attempts, history_seq, order_id, order_data)
            \(sagas.map { "WHERE u.id IN (\($0))" } ?? "")
            ON CONFLICT DO NOTHING
            RETURNING id),
        started_history AS (
            \(SagaStatements.historyInsert) WHERE h.saga_id IN (SELECT id FROM started)
            RETURNING 1),
        started_deadlines AS (
            INSERT INTO orchestrator.deadlines (saga_id, due_at, token)
            SELECT d.id, now() + d.delay_ms * interval '1 millisecond', d.token
              FROM unnest($16::uuid[], $17::bigint[], $18::integer[]) AS d(id, delay_ms, token)
             WHERE d.id IN (SELECT id FROM started)
            RETURNING 1)
        """
    }

    let sagas: SagaStatements.SagaColumns
    let history: SagaStatements.TransitionColumns
    let orderIDs: [UUID]
    /// Each saga's order, as JSON.
    let orders: [String]
    let deadlines: SagaStatements.DeadlineColumns

    /// The rows of a planned start.
    public init(_ plan: SagaEngine.StartPlan) {
        self.init(plan.changes)
    }

    init(_ changes: [SagaStore.Change]) {
        let (history, deadlines, _) = SagaStore.columns(of: changes)
        self.sagas = SagaStore.sagaColumns(changes)
        self.history = history
        self.orderIDs = changes.map(\.saga.order.orderID)
        self.orders = changes.map { MessageCoding.encode($0.saga.order) }
        self.deadlines = deadlines
    }

    /// Appends the values of `$1` to `$18`, in order.
    public func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(sagas)
        bindings.append(history)
        bindings.append(orderIDs)
        bindings.append(orders)
        bindings.append(deadlines)
    }
}
