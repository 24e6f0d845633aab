extension AsyncSequence {
    /// The last element, once every element has been read: for a result of at most one row.
    ///
    /// Returning from inside a loop over a postgres-nio result leaves it part-read, and the
    /// connection's next statement (or, once the connection is back in its pool, someone
    /// else's) may then never go out. Reading to the end here keeps every such lookup safe.
    public func lastElement() async throws -> Element? {
        var last: Element?
        for try await element in self { last = element }
        return last
    }
}
