/// What a bearer token may do.
public enum AccessRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Place orders; read orders, sagas and events.
    case client
    /// Everything a client may, plus create events and list sagas.
    case `operator`

    public static func < (lhs: AccessRole, rhs: AccessRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
