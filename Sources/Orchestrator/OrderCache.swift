import EvenTicketContracts
import Foundation
import Synchronization

/// Decoded orders by saga id. An order never changes once placed, so an entry is never stale;
/// the cache only bounds its size (it forgets everything when full).
final class OrderCache: Sendable {
    private let orders = Mutex<[UUID: OrderPlaced]>([:])
    private let capacity: Int

    init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func order(of sagaID: UUID) -> OrderPlaced? {
        orders.withLock { $0[sagaID] }
    }

    func remember(_ order: OrderPlaced, of sagaID: UUID) {
        orders.withLock { orders in
            if orders.count >= capacity { orders.removeAll(keepingCapacity: true) }
            orders[sagaID] = order
        }
    }
}
