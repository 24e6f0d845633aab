/// Runs at most `width` bodies at a time; the others wait their turn, first come first served.
///
/// The test suites start every test at once, and each whole system under test holds a few
/// dozen PostgreSQL connections that its consumers keep busy: with no limit, a slow machine
/// can run enough systems at once to use up the server's connections, and pools that wait for
/// a connection the others never give back wait forever.
public actor ConcurrencyLimit {
    private let width: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(width: Int) {
        precondition(width > 0, "a concurrency limit needs a width of at least 1")
        self.width = width
    }

    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if running < width {
            running += 1
        } else {
            // The slot is handed over by the body that ends, so `running` stays counted.
            await withCheckedContinuation { waiting.append($0) }
        }
        defer { release() }
        return try await body()
    }

    private func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
