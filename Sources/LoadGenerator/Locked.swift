import NIOConcurrencyHelpers

/// A value behind a lock, for state shared between the bench's tasks.
final class Locked<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>

    init(_ value: Value) { box = NIOLockedValueBox(value) }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try box.withLockedValue(body)
    }

    var value: Value { box.withLockedValue { $0 } }
}
