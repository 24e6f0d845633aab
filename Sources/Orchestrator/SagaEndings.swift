import Metrics
import OrderSaga

/// Sagas that ended (`eventicket_sagas_ended_total`, by the `state` they ended in: `completed`,
/// `compensated` or `failed`), counted once the transaction that ended them committed. A saga
/// that failed and later finished its compensations ends twice: `failed`, then `compensated`.
struct SagaEndings: Sendable {
    private let counters: [SagaState: Counter] = Dictionary(uniqueKeysWithValues: SagaState.allCases.filter(\.isTerminal).map {
        ($0, Counter(label: "eventicket_sagas_ended_total", dimensions: [("state", $0.rawValue)]))
    })

    func count(_ states: [SagaState]) {
        var tally: [SagaState: Int] = [:]
        for state in states { tally[state, default: 0] += 1 }
        for (state, count) in tally { counters[state]?.increment(by: count) }
    }
}
