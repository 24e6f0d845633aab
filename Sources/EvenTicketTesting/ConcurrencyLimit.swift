/// Runs at most `width` bodies at a time; the others wait their turn, first come first served.
///
/// The test suites start every test at once, and each whole system under test holds a few
/// dozen PostgreSQL connections that its consumers keep busy: with no limit, enough systems
/// run at once to use up the server's connections, and their pools starve each other (against
/// a server of 100 connections the unbounded suite took 194 s and failed 60 expectations).
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
