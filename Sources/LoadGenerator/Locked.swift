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

/// The bench could not run or measure; the message says what to do.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
