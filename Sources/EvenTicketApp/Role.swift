import EvenTicketContracts

/// A part of the system a process can run. Any mix of roles can share one process.
public enum Role: String, Sendable, CaseIterable {
    /// The public HTTP API and the ordering service's consumer.
    case api
    /// The saga orchestrator.
    case orchestrator
    case inventory
    case invoicing
    case payment

    /// The queue this part consumes.
    public var queue: Queue {
        switch self {
        case .api: .ordering
        case .orchestrator: .orchestrator
        case .inventory: .inventory
        case .invoicing: .invoicing
        case .payment: .payment
        }
    }

    /// The PostgreSQL role this part acts as (created by the migrations, least privilege).
    public var databaseRole: String { "eventicket_\(rawValue)" }

    /// The participant roles, as `eventicket worker` runs them by default.
    public static let participants: [Role] = [.inventory, .invoicing, .payment]
}
