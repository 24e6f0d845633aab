import Synchronization

/// One lookup per key at a time: a caller that asks for a key while a lookup of it runs waits
/// for that lookup's answer (or its error) instead of starting its own.
///
/// For the API's caches, in front of the database: without it, every request that missed a
/// cache between an entry expiring (or a new key's first request) and the first lookup's
/// answer looked it up itself, each on a connection of the pool's (see ``TokenCache``). A
/// lookup should remember its answer before it returns, so that a caller who misses the cache
/// while it is being removed here finds the answer there.
final class SharedLookups<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let running = Mutex<[Key: Task<Value, any Error>]>([:])

    init() {}

    /// The answer of the lookup of `key` that is running, or of `lookUp`, started now.
    ///
    /// The lookup runs in an unstructured task, as it serves every caller that waits for it,
    /// not only the one that started it: a caller cancelled meanwhile leaves it running for
    /// the others, and still waits for it (the lookups here are bounded by their connection
    /// wait and watchdog).
    func value(for key: Key, _ lookUp: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let lookup = running.withLock { running in
            if let lookup = running[key] { return lookup }
            let started = Task {
                defer { self.running.withLock { _ = $0.removeValue(forKey: key) } }
                return try await lookUp()
            }
            running[key] = started
            return started
        }
        return try await lookup.value
    }
}
