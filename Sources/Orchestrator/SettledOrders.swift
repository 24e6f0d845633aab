import Metrics
import Ordering

/// The orders that sagas settled (`eventicket_orders_settled_total`, by `status`), counted
/// once the transaction that settled them committed.
struct SettledOrders: Sendable {
    let confirmed = Counter(label: "eventicket_orders_settled_total", dimensions: [("status", Order.Status.confirmed.rawValue)])
    let rejected = Counter(label: "eventicket_orders_settled_total", dimensions: [("status", Order.Status.rejected.rawValue)])

    func count(_ outcomes: [OrderStore.Outcome]) {
        var (confirmations, rejections) = (0, 0)
        for outcome in outcomes {
            switch outcome.status {
            case .confirmed: confirmations += 1
            case .rejected: rejections += 1
            case .pending: break
            }
        }
        if confirmations > 0 { confirmed.increment(by: confirmations) }
        if rejections > 0 { rejected.increment(by: rejections) }
    }
}
