import Database
import EvenTicketContracts
import Foundation
import Logging
import OrderSaga
import Ordering
import PostgresNIO

/// The orchestrator's own tables: one row per saga, its transitions (the history) and its
/// deadline; saving a saga that ended also settles its order (``OrderSettlement``).
///
/// Every method works on many sagas in one statement, inside the caller's transaction.
public struct SagaStore: Sendable {
    let orders = OrderCache()

    public init() {}

    /// One line of a saga's history.
    public struct HistoryEntry: Sendable, Equatable {
        public var kind: String
        public var message: String
        public var messageID: UUID?
        public var detail: [String: String]

        public init(kind: String, message: String, messageID: UUID? = nil, detail: [String: String] = [:]) {
            self.kind = kind
            self.message = message
            self.messageID = messageID
            self.detail = detail
        }
    }

    /// What a transition does to the saga's deadline.
    enum DeadlineChange: Sendable, Equatable {
        case keep
        case set(after: Duration, token: Int)
        case clear
    }

    /// A saga as stored, with the number of transitions it has recorded.
    struct Stored: Sendable {
        var saga: OrderSaga
        var transitionCount: Int
        /// The token of the saga's deadline when that deadline has passed.
        var dueToken: Int?
    }

    /// A saga to write back after its transitions.
    struct Change: Sendable {
        var saga: OrderSaga
        /// The history entries of each new transition, one row of history each.
        var newTransitions: [[HistoryEntry]]
        /// Transitions recorded, the new ones included.
        var transitionCount: Int
        var deadline: DeadlineChange
        /// The outcome to record on the saga's order, once the saga has ended.
        var outcome: OrderStore.Outcome?
        /// The states in which the new transitions ended the saga (for the metrics).
        var endings: [SagaState] = []

        init(saga: OrderSaga, transitionCount: Int, deadline: DeadlineChange) {
            self.saga = saga
            self.newTransitions = []
            self.transitionCount = transitionCount
            self.deadline = deadline
        }

        /// Records one transition's entries.
        mutating func record(_ entries: [HistoryEntry]) {
            newTransitions.append(entries)
            transitionCount += 1
        }
    }

    /// Stores new sagas with their first history and deadlines, skipping ids that exist
    /// already; returns the ids it created.
    func start(_ changes: [Change], on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        guard !changes.isEmpty else { return [] }
        let rows = try await connection.execute(SagaStatements.Start(insert: SagaStartInsert(changes)), logger: logger)
        var created: Set<UUID> = []
        for try await id in rows { created.insert(id) }
        return created
    }

    /// Loads sagas and locks their rows until the transaction ends, in id order (so that
    /// concurrent batches never deadlock). With `skipLocked`, sagas another transaction holds
    /// are left out instead of waited for.
    func lock(_ ids: [UUID], skipLocked: Bool = false, on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Stored] {
        guard !ids.isEmpty else { return [:] }
        let unique = Array(Set(ids))
        let bindings = PostgresBindings(unique)
        let decode: @Sendable (PostgresRow) throws -> SagaStatements.SagaRow = SagaStatements.sagaRow
        let rows = skipLocked
            ? try await connection.execute(Prepared<SagaStatements.LockSkippingLocked, SagaStatements.SagaRow>(bindings, decode: decode), logger: logger)
            : try await connection.execute(Prepared<SagaStatements.Lock, SagaStatements.SagaRow>(bindings, decode: decode), logger: logger)
        var sagas: [UUID: Stored] = [:]
        for try await row in rows {
            let stored = try restore(row)
            sagas[stored.saga.id] = stored
        }
        return sagas
    }

    /// Sagas from the rows a claim read and locked for them (see
    /// ``SagaStatements/ClaimedSagas``).
    func restore(_ rows: [UUID: SagaStatements.ClaimedSagas.Row]) throws -> [UUID: Stored] {
        try rows.mapValues { try restore($0.columns) }
    }

    /// A saga from its row. Orders never change, so a decoded order is kept for the saga's next
    /// transitions in this process.
    private func restore(_ row: SagaStatements.SagaRow) throws -> Stored {
        let (id, state, step, reason, failure, finished, queue, token, attempts, transitionCount, orderJSON, deadlineToken, due) = row
        let order: OrderPlaced
        if let known = orders.order(of: id) {
            order = known
        } else {
            order = try MessageCoding.decode(OrderPlaced.self, from: orderJSON)
            orders.remember(order, of: id)
        }
        guard let state = SagaState(rawValue: state), let step = SagaStep(name: step) else {
            throw SagaRowError(id: id, reason: "unknown state \(state) or step \(step)")
        }
        func steps(_ text: String) throws -> [ForwardStep] {
            try text.split(separator: ",").map {
                guard let step = ForwardStep(rawValue: String($0)) else { throw SagaRowError(id: id, reason: "unknown step \($0)") }
                return step
            }
        }
        let saga = OrderSaga.restoring(
            id: id, order: order, state: state, step: step, finishedSteps: try steps(finished), compensationQueue: try steps(queue),
            reason: reason, failure: failure, token: token, compensationAttempts: attempts)
        return Stored(saga: saga, transitionCount: transitionCount, dueToken: due == true ? deadlineToken : nil)
    }

    /// Writes back sagas after their transitions (all their columns, also when only history was
    /// added), appends their history, moves their deadlines and settles the orders of those that
    /// ended, in one statement.
    func save(_ changes: [Change], on connection: PostgresConnection, logger: Logger) async throws {
        guard !changes.isEmpty else { return }
        try await Self.saveWrites(changes).run(on: connection, logger: logger)
    }

    /// What ``save(_:on:logger:)`` writes, for a statement that runs it with others.
    static func saveWrites(_ changes: [Change]) -> SagaStatements.SaveWrites {
        SagaStatements.SaveWrites(sagas: sagaColumns(changes), history: historyColumns(of: changes), outcomes: outcomeColumns(changes))
    }

    static func outcomeColumns(_ changes: [Change]) -> SagaStatements.OutcomeColumns {
        var columns = SagaStatements.OutcomeColumns()
        for change in changes {
            columns.orderIDs.append(change.saga.order.orderID)
            columns.statuses.append(change.outcome?.status.rawValue ?? "")
            columns.reasons.append(change.outcome?.reason ?? "")
        }
        return columns
    }

    static func sagaColumns(_ changes: [Change]) -> SagaStatements.SagaColumns {
        var columns = SagaStatements.SagaColumns()
        for change in changes {
            let saga = change.saga
            columns.ids.append(saga.id)
            columns.states.append(saga.state.rawValue)
            columns.steps.append(saga.step.name)
            columns.reasons.append(saga.reason ?? "")
            columns.failures.append(saga.failure ?? "")
            columns.finishedSteps.append(saga.finishedSteps.map(\.rawValue).joined(separator: ","))
            columns.compensationQueues.append(saga.compensationQueue.map(\.rawValue).joined(separator: ","))
            columns.tokens.append(saga.token)
            columns.compensationAttempts.append(saga.compensationAttempts)
            columns.transitionCounts.append(change.transitionCount)
            switch change.deadline {
            case .keep:
                columns.deadlineDelays.append(SagaStatements.keepDeadline)
                columns.deadlineTokens.append(0)
            case .set(let delay, let token):
                columns.deadlineDelays.append(max(delay.milliseconds, 0))
                columns.deadlineTokens.append(token)
            case .clear:
                columns.deadlineDelays.append(SagaStatements.clearDeadline)
                columns.deadlineTokens.append(0)
            }
        }
        return columns
    }

    static func historyColumns(of changes: [Change]) -> SagaStatements.TransitionColumns {
        var history = SagaStatements.TransitionColumns()
        for change in changes {
            let first = change.transitionCount - change.newTransitions.count
            for (offset, entries) in change.newTransitions.enumerated() {
                history.sagaIDs.append(change.saga.id)
                history.seqs.append(first + offset + 1)
                history.entries.append(json(entries))
            }
        }
        return history
    }

    /// A transition's entries as the JSON array `orchestrator.saga_transitions.entries` holds,
    /// keys sorted, written directly into one string (this runs for every transition).
    static func json(_ entries: [HistoryEntry]) -> String {
        var json = JSONWriter()
        json.array(entries) { json, entry in
            json.object { json in
                json.member("detail", entry.detail)
                json.member("kind", entry.kind)
                json.member("message", entry.message)
                json.key("messageId")
                if let id = entry.messageID { json.value(id) } else { json.null() }
            }
        }
        return json.text
    }

    /// The sagas whose alarm has rung, oldest alarm first, up to `limit`: locks them (skipping
    /// sagas another transaction holds) and returns those whose deadline has passed, with its
    /// token. The alarms of the other sagas it locked are settled here: moved to the saga's
    /// deadline when that is later, dropped when the saga has none. An alarm is changed only
    /// under its saga's lock (or created with the saga), so a saga another transaction holds
    /// keeps its alarm for a later sweep; an alarm without a saga is dropped. The alarms of
    /// sagas that fire are moved or dropped by the transition that fires them
    /// (``save(_:on:logger:)``). Also returns how many alarms it handled.
    func lockDue(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> (due: [Stored], handled: Int) {
        try await lockDue(rungAlarms(limit: limit, on: connection, logger: logger), on: connection, logger: logger)
    }

    /// The sagas whose alarm has rung, oldest alarm first, up to `limit` (nothing locked).
    func rungAlarms(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let rung = try await connection.execute(
            Prepared<SagaStatements.RungAlarms, UUID>(PostgresBindings(limit), decode: { try $0.decode(UUID.self) }), logger: logger)
        var ids: [UUID] = []
        for try await id in rung { ids.append(id) }
        return ids
    }

    /// As ``lockDue(limit:on:logger:)``, for the sagas `ids` whose alarms have rung.
    func lockDue(_ ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> (due: [Stored], handled: Int) {
        guard !ids.isEmpty else { return ([], 0) }
        let locked = try await lock(ids, skipLocked: true, on: connection, logger: logger)
        let due = ids.compactMap { locked[$0] }.filter { $0.dueToken != nil }
        let notDue = ids.filter { locked[$0] != nil && locked[$0]?.dueToken == nil }
        let skipped = ids.filter { locked[$0] == nil }
        var settled = 0
        if !notDue.isEmpty || !skipped.isEmpty {
            let rows = try await connection.execute(
                Prepared<SagaStatements.SettleAlarms, Int>(PostgresBindings(notDue, skipped)) { try $0.decode(Int.self) },
                logger: logger)
            for try await count in rows { settled += count }
        }
        return (due, due.count + settled)
    }
    /// Moves a rung alarm `delay` ahead, under its saga's lock (waiting for it), without
    /// restoring the saga: for one whose deadline cannot fire (see ``DeadlineSweeper``). False
    /// when there is no such saga or alarm.
    func putOff(_ id: UUID, by delay: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            WITH saga AS (SELECT id FROM orchestrator.sagas WHERE id = \(id) FOR UPDATE)
            UPDATE orchestrator.deadlines a SET due_at = now() + \(delay.milliseconds) * interval '1 millisecond'
              FROM saga WHERE a.saga_id = saga.id
            RETURNING 1
            """, logger: logger)
        return try await rows.collect().count == 1
    }
}

extension UUID {
    /// All zeros: stands for "none" in arrays bound to SQL.
    static let none = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
}

/// A saga row that does not make a saga.
struct SagaRowError: Error, CustomStringConvertible {
    var id: UUID
    var reason: String
    var description: String { "saga \(id): \(reason)" }
}
