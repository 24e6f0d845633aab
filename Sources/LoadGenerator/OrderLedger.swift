import Foundation
import Histogram

/// What the bench knows about its orders: counts, the in-flight set that the poller watches,
/// the measurement window, and the latency histograms. Shared by the drivers, the poller and
/// the supervisor; every method holds the lock briefly and allocates little.
final class OrderLedger: Sendable {
    /// What the poller reads back for an order that became terminal.
    struct Outcome: Sendable {
        var id: UUID
        var status: String
        var reason: String?
        var updatedAt: Date
    }

    /// Whether a driver may send an order now.
    enum Permit: Equatable {
        case send(number: Int)
        /// Open loop: too many HTTP requests in flight; the order was dropped.
        case dropped
        /// Placing has stopped (time is up, or `--orders` were placed).
        case stop
    }

    struct Pending {
        var sentAt: Date
        var slow: Bool
        var waiter: CheckedContinuation<Void, Never>?
        /// When the poller asks about this order next.
        var nextPoll: Date
    }

    struct State {
        var pending: [UUID: Pending] = [:]
        var stopped = false
        /// Set by ``drain()``: nobody waits on orders any more.
        var drained = false
        var windowStart: Date?
        var windowEnd: Date?
        var scheduled = 0
        var placed = 0
        var placedInWindow = 0
        var accepted = 0
        var httpInFlight = 0
        var dropped = 0
        var late = 0
        var errors: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        var completed = 0
        var completedInWindow = 0
        var lastActivity = Date()
        var ownQueries = 0
        var headline = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        /// The headline class split by outcome: confirmed orders take a saga's 4 hops, rejected
        /// ones up to 6 (a declined payment undoes the first stage's two steps).
        var headlineConfirmed = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var headlineRejected = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var slowClass = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        /// The headline class's latencies in microseconds, by the second of the window the order
        /// was sent in: a run's tail is either spread over it or made by a few bad seconds, and
        /// only this tells which. Plain arrays, not histograms: a histogram per second would
        /// take more memory than the values of a thousand orders.
        var headlineBySecond: [[UInt32]] = []
    }

    let state = Locked(State())
    /// `--orders`: the most orders to schedule.
    let limit: Int?
    /// Orders paid with the timeout token end no sooner than this after they were sent.
    let slowMinimum: TimeInterval

    init(limit: Int?, stepTimeout: Double) {
        self.limit = limit
        self.slowMinimum = stepTimeout * 0.9
    }

    // MARK: Placing

    /// Takes the next order slot; `cap` (open loop) is the most HTTP requests in flight.
    func permit(cap: Int? = nil) -> Permit {
        state.withLock { state in
            if state.stopped { return .stop }
            if let limit, state.scheduled >= limit { return .stop }
            state.scheduled += 1
            if let cap, state.httpInFlight >= cap {
                state.dropped += 1
                return .dropped
            }
            state.placed += 1
            if state.windowStart != nil { state.placedInWindow += 1 }
            state.httpInFlight += 1
            return .send(number: state.scheduled)
        }
    }

    /// A request failed or was refused.
    func requestEnded(late: Bool = false) {
        state.withLock { state in
            state.httpInFlight -= 1
            if late { state.late += 1 }
        }
    }

    func failed(_ key: String) {
        state.withLock { $0.errors[key, default: 0] += 1 }
    }

    /// The request was answered and the order accepted; the poller will look for its outcome.
    /// One step with ``requestEnded(late:)``, so that the order is never out of both counts.
    func accepted(_ id: UUID, sentAt: Date, slow: Bool, late: Bool = false) {
        state.withLock { state in
            state.httpInFlight -= 1
            if late { state.late += 1 }
            state.accepted += 1
            state.lastActivity = Date()
            state.pending[id] = Pending(sentAt: sentAt, slow: slow, waiter: nil, nextPoll: Self.firstPoll(sentAt: sentAt, slow: slow, slowMinimum: slowMinimum))
        }
    }

    /// Closed loop: the request was answered and the order accepted; returns once the order is
    /// terminal (or drained at the end).
    func acceptedAndWait(_ id: UUID, sentAt: Date, slow: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state in
                state.httpInFlight -= 1
                state.accepted += 1
                state.lastActivity = Date()
                guard !state.drained else { return false }
                state.pending[id] = Pending(sentAt: sentAt, slow: slow, waiter: continuation, nextPoll: Self.firstPoll(sentAt: sentAt, slow: slow, slowMinimum: slowMinimum))
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    // MARK: Polling

    /// The in-flight orders due to be asked about, each then scheduled for its next poll.
    ///
    /// An order is asked about again after `interval`, or after a quarter of its age if that is
    /// longer: young orders are checked every poll, an order in flight for a second every 250 ms.
    /// So the poller's cost follows the completions, not the orders in flight (with 1,024 in
    /// flight, asking about every one of them every 20 ms took a tenth of a core of PostgreSQL
    /// from the system it measures). Latency is read from the order's `updated_at`, so it does
    /// not depend on when the poller notices; a closed-loop client learns of its order up to a
    /// quarter of its latency later. Timeout-token orders are not asked about before they can
    /// have ended.
    func idsToPoll(now: Date = Date(), interval: TimeInterval) -> [UUID] {
        state.withLock { state in
            // In place: no filtered copy of the pending orders (this runs every few milliseconds).
            var due: [UUID] = []
            var index = state.pending.startIndex
            while index != state.pending.endIndex {
                let order = state.pending.values[index]
                if order.nextPoll <= now {
                    due.append(state.pending.keys[index])
                    state.pending.values[index].nextPoll = now.addingTimeInterval(max(interval, now.timeIntervalSince(order.sentAt) / 4))
                }
                state.pending.formIndex(after: &index)
            }
            return due
        }
    }

    /// When an order is first asked about: at once, or for a timeout-token order once it can have ended.
    private static func firstPoll(sentAt: Date, slow: Bool, slowMinimum: TimeInterval) -> Date {
        slow ? sentAt.addingTimeInterval(slowMinimum) : sentAt
    }

    /// Records terminal orders and wakes their closed-loop clients.
    func completed(_ outcomes: [Outcome]) {
        guard !outcomes.isEmpty else { return }
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            var waiters: [CheckedContinuation<Void, Never>] = []
            for outcome in outcomes {
                guard let order = state.pending.removeValue(forKey: outcome.id) else { continue }
                if let waiter = order.waiter { waiters.append(waiter) }
                state.completed += 1
                state.outcomes[outcome.reason.map { "\(outcome.status):\($0)" } ?? outcome.status, default: 0] += 1
                if let start = state.windowStart, outcome.updatedAt >= start, state.windowEnd.map({ outcome.updatedAt < $0 }) ?? true {
                    state.completedInWindow += 1
                }
                if let start = state.windowStart, order.sentAt >= start {
                    let micros = max(outcome.updatedAt.timeIntervalSince(order.sentAt) * 1_000_000, 1)
                    if order.slow {
                        _ = state.slowClass.record(UInt64(micros))
                    } else {
                        _ = state.headline.record(UInt64(micros))
                        let second = Int(order.sentAt.timeIntervalSince(start))
                        if state.headlineBySecond.count <= second {
                            state.headlineBySecond.append(contentsOf: repeatElement([], count: second + 1 - state.headlineBySecond.count))
                        }
                        state.headlineBySecond[second].append(UInt32(min(micros, Double(UInt32.max))))
                        if outcome.status == "confirmed" {
                            _ = state.headlineConfirmed.record(UInt64(micros))
                        } else {
                            _ = state.headlineRejected.record(UInt64(micros))
                        }
                    }
                }
            }
            state.lastActivity = Date()
            return waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Counts a query the bench itself sent to the measured database.
    func ownQuery(_ count: Int = 1) {
        state.withLock { $0.ownQueries += count }
    }

    // MARK: Phases

    func startWindow(at date: Date) { state.withLock { $0.windowStart = date } }
    func endWindow(at date: Date) { state.withLock { $0.windowEnd = date } }
    func stopPlacing() { state.withLock { $0.stopped = true } }

    /// Gives up on the orders still in flight: wakes their clients and returns how many there were.
    /// Makes every order in flight due at the next poll: before the settle time ends, so that
    /// an order that ended but was not asked about again yet (an old one is asked about every
    /// quarter of its age) is counted as completed, not as unfinished. Returns how many are
    /// in flight.
    func pollEverythingNext() -> Int {
        state.withLock { state in
            for index in state.pending.indices { state.pending.values[index].nextPoll = .distantPast }
            return state.pending.count
        }
    }

    func drain() -> Int {
        let (count, waiters) = state.withLock { state in
            let waiters = state.pending.values.compactMap(\.waiter)
            let count = state.pending.count
            state.pending.removeAll()
            state.drained = true
            return (count, waiters)
        }
        waiters.forEach { $0.resume() }
        return count
    }

    /// Orders in flight (accepted, not terminal) and HTTP requests not yet answered.
    var inFlight: (orders: Int, requests: Int) {
        state.withLock { ($0.pending.count, $0.httpInFlight) }
    }
}

extension OrderLedger {
    /// Order slots taken so far (sent plus dropped).
    var scheduled: Int { state.withLock { $0.scheduled } }
    /// Whether `--orders` slots have all been taken.
    var limitReached: Bool { limit.map { scheduled >= $0 } ?? false }
    var ownQueries: Int { state.withLock { $0.ownQueries } }
    var lastActivity: Date { state.withLock { $0.lastActivity } }
}
