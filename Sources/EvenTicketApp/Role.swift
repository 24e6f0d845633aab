import EvenTicketContracts

/// A part of the system a process can run. Any mix of roles can share one process.
public enum Role: String, Sendable, CaseIterable {
    /// The public HTTP API, which places orders (the ordering service's intake).
    case api
    /// The ordering service's consumer, which records on their orders the saga outcomes that
    /// builds before migration `0018` sent as messages (the orchestrator now records them itself,
    /// in the transaction that ends the saga).
    case ordering
    /// The saga orchestrator.
    case orchestrator
    case inventory
    case invoicing
    case payment

    /// The queue this part consumes; nil for the HTTP API.
    public var queue: Queue? {
        switch self {
        case .api: nil
        case .ordering: .ordering
        case .orchestrator: .orchestrator
        case .inventory: .inventory
        case .invoicing: .invoicing
        case .payment: .payment
        }
    }

    /// The PostgreSQL role this part acts as (created by the migrations, least privilege). The
    /// ordering service's two parts share one.
    public var databaseRole: String { "eventicket_\(self == .ordering ? Role.api.rawValue : rawValue)" }

    /// The participant roles, as `eventicket worker` runs them by default.
    public static let participants: [Role] = [.inventory, .invoicing, .payment]
}
