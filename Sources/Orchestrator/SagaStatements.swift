import Database
import Foundation
import PostgresNIO

/// The orchestrator's hot statements, prepared once per connection. Each writes several tables
/// at once through data-modifying `WITH` clauses, so a batch of sagas costs one round trip.
enum SagaStatements {
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
    }

    /// Column arrays of transitions (rows of history).
    struct TransitionColumns: Sendable {
        var sagaIDs: [UUID] = []
        var seqs: [Int] = []
        /// Each transition's entries, as a JSON array.
        var entries: [String] = []
    }

    /// Column arrays of deadlines to set.
    struct DeadlineColumns: Sendable {
        var sagaIDs: [UUID] = []
        var delays: [Int64] = []
        var tokens: [Int] = []
    }

    static let historyInsert = """
        INSERT INTO orchestrator.saga_transitions (saga_id, seq, entries)
        SELECT h.saga_id, h.seq, h.entries::json
          FROM unnest($11::uuid[], $12::integer[], $13::text[]) AS h(saga_id, seq, entries)
        """

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

    /// Writes back sagas after their transitions, appends their history, and sets or clears
    /// their deadlines.
    struct Save: PostgresPreparedStatement {
        static var name: String { StatementName.of(Self.self) }
        static let sql = """
            WITH updated AS (
                UPDATE orchestrator.sagas s
                   SET state = u.state, step = u.step, reason = NULLIF(u.reason, ''), failure = NULLIF(u.failure, ''),
                       finished_steps = string_to_array(u.finished, ','), compensation_queue = string_to_array(u.queue, ','),
                       token = u.token, compensation_attempts = u.attempts, history_seq = u.history_seq,
                       version = s.version + 1, updated_at = now()
                  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[],
                              $9::integer[], $10::integer[])
                       AS u(id, state, step, reason, failure, finished, queue, token, attempts, history_seq)
                 WHERE s.id = u.id
                RETURNING 1),
            history AS (
                \(historyInsert)
                RETURNING 1),
            set_deadlines AS (
                INSERT INTO orchestrator.deadlines (saga_id, due_at, token)
                SELECT d.id, now() + d.delay_ms * interval '1 millisecond', d.token
                  FROM unnest($14::uuid[], $15::bigint[], $16::integer[]) AS d(id, delay_ms, token)
                ON CONFLICT (saga_id) DO UPDATE SET due_at = excluded.due_at, token = excluded.token
                RETURNING 1),
            cleared_deadlines AS (
                DELETE FROM orchestrator.deadlines WHERE saga_id = ANY($17::uuid[])
                RETURNING 1)
            SELECT (SELECT count(*) FROM updated)::integer
            """
        typealias Row = Int

        var sagas: SagaColumns
        var history: TransitionColumns
        var deadlines: DeadlineColumns
        var clearedDeadlines: [UUID]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 17)
            bindings.append(sagas)
            bindings.append(history)
            bindings.append(deadlines)
            bindings.append(clearedDeadlines)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }

    static let lockColumns = """
        id, state, step, reason, failure, array_to_string(finished_steps, ','), array_to_string(compensation_queue, ','),
        token, compensation_attempts, history_seq, order_data::text
        """

    /// A saga row as ``Lock`` reads it.
    typealias SagaRow = (UUID, String, String, String?, String?, String, String, Int, Int, Int, String)

    /// Loads sagas and locks them, in id order.
    enum Lock: PreparedSQL {
        static let sql = "SELECT \(lockColumns) FROM orchestrator.sagas WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    }

    /// As ``Lock``, leaving out sagas another transaction holds instead of waiting for them.
    enum LockSkippingLocked: PreparedSQL {
        static let sql = Lock.sql + " SKIP LOCKED"
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
    }

    mutating func append(_ history: SagaStatements.TransitionColumns) {
        append(history.sagaIDs)
        append(history.seqs)
        append(history.entries)
    }

    mutating func append(_ deadlines: SagaStatements.DeadlineColumns) {
        append(deadlines.sagaIDs)
        append(deadlines.delays)
        append(deadlines.tokens)
    }
}
