import Database
import Foundation
import MessageBus
import Orchestrator
import Ordering
import PostgresNIO

/// Places a batch of orders in one statement: stores the orders (ordering), creates their sagas
/// with their first history and deadlines (orchestrator) and publishes the sagas' first commands
/// (bus), with the `NOTIFY` that wakes their consumers at commit if the intake has no
/// ``BusNotifier`` with a connection to send it afterwards (``Wakeups/notifiesAtCommit``). One
/// statement is one
/// transaction, so this is one round trip, without `BEGIN` and `COMMIT`: either everything is
/// written or nothing is.
///
/// Each module owns its part (``OrderInsert``, ``SagaStartInsert``, ``MessageInsert``); this
/// statement only chains them. A saga is created only for an order that was stored (not for one
/// whose idempotency key existed), and only the messages of the sagas created are published.
/// Returns `id` and `created_at` of the orders stored.
struct PlaceOrders: PostgresPreparedStatement {
    static var name: String { StatementName.of(Self.self) }
    static let sql = """
        WITH placed AS (
        \(OrderInsert.sql)),
        \(StatementPart.renumbering(SagaStartInsert.ctes(onlySagasIn: "SELECT saga_id FROM placed"), by: sagaParameters)),
        \(StatementPart.renumbering(MessageInsert.ctes(onlySagasIn: "SELECT id FROM started"), by: messageParameters))
        SELECT id, created_at FROM placed WHERE \(MessageInsert.notifiedCount) >= 0
        """
    /// Where each part's parameters start (after the previous parts').
    static let sagaParameters = OrderInsert.parameterCount
    static let messageParameters = sagaParameters + SagaStartInsert.parameterCount
    typealias Row = (UUID, Date)

    var orders: OrderInsert
    var sagas: SagaStartInsert
    var messages: MessageInsert

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.messageParameters + MessageInsert.parameterCount)
        orders.appendBindings(to: &bindings)
        sagas.appendBindings(to: &bindings)
        messages.appendBindings(to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((UUID, Date).self) }
}
