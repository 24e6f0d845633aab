import Hummingbird
import Synchronization

/// The methods each registered path answers, to tell "no such resource" (404) from "not with
/// this method" (405 with `Allow`). Filled from the router once every route is registered.
final class AllowedMethods: Sendable {
    private let table = Mutex<[(segments: [Substring], methods: [HTTPRequest.Method])]>([])

    func load<Context>(from router: Router<Context>) {
        var grouped: [String: [HTTPRequest.Method]] = [:]
        for route in router.routes { grouped["\(route.path)", default: []].append(route.method) }
        table.withLock { table in
            table = grouped.map { path, methods in (path.split(separator: "/"), methods.sorted { $0.rawValue < $1.rawValue }) }
        }
    }

    /// The methods `path` answers, or an empty list when no route matches it at all.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return table.withLock { table in
            table.first { entry in
                entry.segments.count == segments.count
                    && zip(entry.segments, segments).allSatisfy { pattern, segment in pattern.hasPrefix("{") || pattern == segment }
            }?.methods ?? []
        }
    }
}
