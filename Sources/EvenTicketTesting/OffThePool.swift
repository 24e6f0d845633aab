import Foundation

/// Runs blocking work (starting or stopping a PostgreSQL server: `initdb`, `pg_ctl`) on a
/// thread of its own and waits for it without holding a thread of Swift's cooperative pool.
///
/// That pool has one thread per core: on the 2-core machine, two tests blocked in such work
/// for seconds at once stop every other test's timers and continuations for as long (seen: a
/// 300 ms wait in another suite that ended after 5 s).
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
