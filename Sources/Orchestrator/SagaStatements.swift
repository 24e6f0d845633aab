import Database
import Foundation
import MessageBus
import Ordering
import PostgresNIO

/// The orchestrator's hot statements, prepared once per connection. Each writes several tables
/// at once through data-modifying `WITH` clauses, so a batch of sagas costs one round trip.
public enum SagaStatements {
    /// Column arrays of sagas' progress, as `unnest` takes them.
    struct SagaColumns: Sendable {
        var ids: [UUID] = []
        var states: [String] = []
        var steps: [String] = []
        /// Empty for none.
        var reasons: [String] = []
        var failures: [String] = []
        /// Step names joined by commas (unnest cannot take an array of arrays).
        var finishedSteps: [String] = []
        var compensationQueues: [String] = []
        var tokens: [Int] = []
        var compensationAttempts: [Int] = []
        var transitionCounts: [Int] = []
        /// What each saga's deadline becomes: due in this many milliseconds (0 or more),
        /// ``keepDeadline`` or ``clearDeadline``.
        var deadlineDelays: [Int64] = []
        /// The token a deadline that is set fires with (0 when none is set).
        var deadlineTokens: [Int] = []
    }

    /// A deadline delay that leaves the saga's deadline as it is.
    static let keepDeadline: Int64 = -1
    /// A deadline delay that removes the saga's deadline (and its alarm).
    static let clearDeadline: Int64 = -2

    /// Column arrays of transitions (rows of history).
    struct TransitionColumns: Sendable {
        var sagaIDs: [UUID] = []
        var seqs: [Int] = []
        /// Each transition's entries, as a JSON array.
        var entries: [String] = []
    }

    /// Column arrays of the orders whose sagas ended, one row per saga of ``SagaColumns``.
    struct OutcomeColumns: Sendable {
        var orderIDs: [UUID] = []
        /// The order's new status, empty for a saga that did not end.
        var statuses: [String] = []
        /// Empty for none.
        var reasons: [String] = []
    }

    static let historyInsert = """
        INSERT INTO orchestrator.saga_transitions (saga_id, seq, entries)
        SELECT h.saga_id, h.seq, h.entries::json
          FROM unnest($13::uuid[], $14::integer[], $15::text[]) AS h(saga_id, seq, entries)
        """

    /// The unnest of ``SagaColumns`` (`$1` to `$12`) as the table `u`, with `extra` columns
    /// (a parameter with its type, and a name) after them.
    static func sagaRows(_ extra: [(parameter: String, name: String)] = []) -> String {
        """
        unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[],
               $9::integer[], $10::integer[], $11::bigint[], $12::integer[]\(extra.map { ", " + $0.parameter }.joined()))
            AS u(id, state, step, reason, failure, finished, queue, token, attempts, history_seq, deadline_ms,
                 deadline_token\(extra.map { ", " + $0.name }.joined()))
        """
    }

    /// When a deadline set `u.deadline_ms` from now is due.
    static let newDueAt = "now() + u.deadline_ms * interval '1 millisecond'"

    /// Creates sagas with their first history and deadlines; an id that exists is skipped (and
    /// so are its history and deadline). Returns the ids it created. See ``SagaStartInsert``.
    struct Start: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = "WITH \(SagaStartInsert.ctes()) SELECT id FROM started"
        typealias Row = UUID

        var insert: SagaStartInsert

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: SagaStartInsert.parameterCount)
            insert.appendBindings(to: &bindings)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(UUID.self) }
    }

    /// Writes back sagas after their transitions (their deadline too), appends their history,
    /// and keeps their alarms (`orchestrator.deadlines`) no later than their deadlines: an alarm
    /// is written only when a new deadline comes before it (or it has rung), and dropped when a
    /// saga's deadline is cleared. See `migrations/0012_deadline_alarms.sql`. The alarm probe
    /// is a primary-key lookup per saga (`OFFSET 0` keeps it from becoming an anti-join, which
    /// read every future alarm for each batch: 127 of them for 30 sagas at 1,000 orders/s, a
    /// quarter of the statement's time; see ``BusStatements/ledgerInsert(consumer:)``). Run alone
    /// (``FinalWrites/run(on:logger:)``), or by the statement that publishes the batch's
    /// messages (``SagaEngine/applyDeferringSave(_:on:logger:)``). A saga that ends settles its
    /// order in the same statement (``OrderSettlement``), so the order's status and the saga's
    /// state commit together.
    struct SaveWrites: FinalWrites {
        static let parameterCount = 18
        static let ctes = """
            u AS (SELECT * FROM \(sagaRows([("$16::uuid[]", "order_id"), ("$17::text[]", "outcome"), ("$18::text[]", "outcome_reason")]))),
            updated AS (
                UPDATE orchestrator.sagas s
                   SET state = u.state, step = u.step, reason = NULLIF(u.reason, ''), failure = NULLIF(u.failure, ''),
                       finished_steps = string_to_array(u.finished, ','), compensation_queue = string_to_array(u.queue, ','),
                       token = u.token, compensation_attempts = u.attempts, history_seq = u.history_seq,
                       due_at = CASE WHEN u.deadline_ms >= 0 THEN \(newDueAt)
                                     WHEN u.deadline_ms = \(keepDeadline) THEN s.due_at END,
                       deadline_token = CASE WHEN u.deadline_ms >= 0 THEN u.deadline_token
                                             WHEN u.deadline_ms = \(keepDeadline) THEN s.deadline_token END,
                       version = s.version + 1, updated_at = now()
                  FROM u
                 WHERE s.id = u.id
                RETURNING 1),
            history AS (
                \(historyInsert)
                RETURNING 1),
            alarms AS (
                INSERT INTO orchestrator.deadlines (saga_id, due_at)
                SELECT u.id, \(newDueAt) FROM u
                 WHERE u.deadline_ms >= 0
                   AND NOT EXISTS (SELECT 1 FROM orchestrator.deadlines a
                                    WHERE a.saga_id = u.id AND a.due_at > now() AND a.due_at <= \(newDueAt)
                                   OFFSET 0)
                ON CONFLICT (saga_id) DO UPDATE SET due_at = excluded.due_at
                RETURNING 1),
            silenced AS (
                DELETE FROM orchestrator.deadlines a USING u
                 WHERE a.saga_id = u.id AND u.deadline_ms = \(clearDeadline)
                RETURNING 1),
            settled AS (
                \(OrderSettlement.update(from: "(SELECT u.order_id, u.outcome, u.outcome_reason FROM u)"))
                RETURNING 1)
            """

        var sagas: SagaColumns
        var history: TransitionColumns
        var outcomes: OutcomeColumns

        func appendBindings(to bindings: inout PostgresBindings) {
            bindings.append(sagas)
            bindings.append(history)
            bindings.append(outcomes.orderIDs)
            bindings.append(outcomes.statuses)
            bindings.append(outcomes.reasons)
        }
    }

    static let lockColumns = "id, \(columnsAfterID)"

    static let columnsAfterID = """
        state, step, reason, failure, array_to_string(finished_steps, ','), array_to_string(compensation_queue, ','),
        token, compensation_attempts, history_seq, order_data::text, deadline_token, due_at <= now()
        """

    /// A saga row as ``Lock`` reads it.
    /// The last two: the deadline's token, and whether the deadline is due (NULL: none).
    typealias SagaRow = (UUID, String, String, String?, String?, String, String, Int, Int, Int, String, Int?, Bool?)

    @Sendable static func sagaRow(_ row: PostgresRow) throws -> SagaRow {
        var columns = RowReader(row)
        return try sagaRow(id: try columns.next(UUID.self), &columns)
    }

    static func sagaRow(id: UUID, _ columns: inout RowReader) throws -> SagaRow {
        (id, try columns.next(String.self), try columns.next(String.self), try columns.next(String?.self),
         try columns.next(String?.self), try columns.next(String.self), try columns.next(String.self), try columns.next(Int.self),
         try columns.next(Int.self), try columns.next(Int.self), try columns.next(String.self), try columns.next(Int?.self),
         try columns.next(Bool?.self))
    }

    /// The sagas of a batch the orchestrator claims, loaded and locked (in id order) by the
    /// claiming statement, as ``Lock`` would after it.
    public enum ClaimedSagas: ClaimedSagaRows {
        public struct Row: Sendable {
            let columns: SagaRow
        }

        public static let table = "orchestrator.sagas"
        public static let sagaKey = "id"
        public static let columns = "id AS saga_id, \(columnsAfterID)"

        public static func decode(sagaID: UUID, _ columns: inout RowReader) throws -> Row {
            Row(columns: try sagaRow(id: sagaID, &columns))
        }
    }

    /// Loads sagas and locks them, in id order.
    enum Lock: PreparedSQL {
        static let sql = "SELECT \(lockColumns) FROM orchestrator.sagas WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    }

    /// As ``Lock``, leaving out sagas another transaction holds instead of waiting for them.
    enum LockSkippingLocked: PreparedSQL {
        static let sql = Lock.sql + " SKIP LOCKED"
    }

    /// The sagas whose alarm has rung, oldest alarm first, up to `$1`.
    enum RungAlarms: PreparedSQL {
        static let sql = "SELECT saga_id FROM orchestrator.deadlines WHERE due_at <= now() ORDER BY due_at LIMIT $1"
    }

    /// Settles rung alarms: those of the sagas in `$1` (locked by the caller, not due) move to
    /// their saga's deadline, or are dropped when it has none; those in `$2` (sagas the caller
    /// could not lock) are dropped only when their saga does not exist. Returns how many alarms
    /// it moved or dropped.
    enum SettleAlarms: PreparedSQL {
        static let sql = """
            WITH moved AS (
                UPDATE orchestrator.deadlines a SET due_at = s.due_at
                  FROM orchestrator.sagas s
                 WHERE a.saga_id = ANY($1::uuid[]) AND s.id = a.saga_id AND s.due_at IS NOT NULL
                RETURNING a.saga_id),
            dropped AS (
                DELETE FROM orchestrator.deadlines a
                 WHERE (a.saga_id = ANY($1::uuid[]) AND a.saga_id NOT IN (SELECT saga_id FROM moved))
                    OR (a.saga_id = ANY($2::uuid[])
                        AND NOT EXISTS (SELECT 1 FROM orchestrator.sagas s WHERE s.id = a.saga_id))
                RETURNING 1)
            SELECT ((SELECT count(*) FROM moved) + (SELECT count(*) FROM dropped))::integer
            """
    }
}

extension PostgresBindings {
    mutating func append(_ sagas: SagaStatements.SagaColumns) {
        append(sagas.ids)
        append(sagas.states)
        append(sagas.steps)
        append(sagas.reasons)
        append(sagas.failures)
        append(sagas.finishedSteps)
        append(sagas.compensationQueues)
        append(sagas.tokens)
        append(sagas.compensationAttempts)
        append(sagas.transitionCounts)
        append(sagas.deadlineDelays)
        append(sagas.deadlineTokens)
    }

    mutating func append(_ history: SagaStatements.TransitionColumns) {
        append(history.sagaIDs)
        append(history.seqs)
        append(history.entries)
    }
}
