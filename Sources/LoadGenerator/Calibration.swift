import Foundation
import Logging
import PostgresNIO

/// This machine's commit ceiling on the bench's PostgreSQL, to put saga throughput in proportion:
/// 16 connections doing single-row autocommit INSERTs for 5 s (group commit at work), then one
/// connection for 2 s (the mean of which is the latency of one durable commit).
/// The table lives in a scratch schema that is created for the run and dropped after it.
public struct Calibration: Sendable {
    /// What the calibration measured.
    public struct Result: Sendable, Codable, Equatable {
        public var connections: Int
        public var seconds: Double
        /// Single-row commits per second with `connections` concurrent clients.
        public var commitsPerSecond: Double
        /// Mean latency of one commit from a single client, in milliseconds ("fsync latency").
        public var singleCommitMilliseconds: Double
        /// `--sequential-commits`: commits one after another on a saga's critical path.
        public var sequentialCommits: Int
        /// `sequentialCommits × singleCommitMilliseconds`: no saga can finish faster than this.
        public var latencyFloorMilliseconds: Double
    }

    let client: PostgresClient
    let logger: Logger
    var connections = 16
    var concurrentSeconds = 5.0
    var singleSeconds = 2.0

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Runs both measurements in a scratch schema of its own (a fresh random name, so that no
    /// existing schema is touched), dropped afterwards.
    func run(sequentialCommits: Int) async throws -> Result {
        let schema = "bench_scratch_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        let table = schema + ".bench_calibration"
        // Identifiers cannot be bound; this one is generated here, never taken from input.
        _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger).collect()
        do {
            _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (v bigint NOT NULL)"), logger: logger).collect()
            let concurrent = try await insertLoop(into: table, connections: connections, seconds: concurrentSeconds)
            let single = try await insertLoop(into: table, connections: 1, seconds: singleSeconds)
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: logger).collect()
            let singleMilliseconds = single == 0 ? 0 : singleSeconds * 1000 / Double(single)
            return Result(
                connections: connections, seconds: concurrentSeconds,
                commitsPerSecond: Double(concurrent) / concurrentSeconds,
                singleCommitMilliseconds: singleMilliseconds,
                sequentialCommits: sequentialCommits,
                latencyFloorMilliseconds: Double(sequentialCommits) * singleMilliseconds)
        } catch {
            _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger).collect()
            throw error
        }
    }

    /// Commits counted over `seconds` from a common start, once every connection is open.
    private func insertLoop(into table: String, connections: Int, seconds: Double) async throws -> Int {
        let clock = ContinuousClock()
        let start = clock.now + .seconds(1)
        let end = start + .seconds(seconds)
        let logger = self.logger
        let insert = "INSERT INTO \(table) (v) VALUES ($1)"
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<connections {
                group.addTask { [client] in
                    try await client.withConnection { connection in
                        try await Task.sleep(until: start, clock: clock)
                        var count = 0
                        var value = Int64(worker) << 32
                        while clock.now < end {
                            value += 1
                            var bindings = PostgresBindings(capacity: 1)
                            bindings.append(value)
                            _ = try await connection.query(PostgresQuery(unsafeSQL: insert, binds: bindings), logger: logger).collect()
                            count += 1
                        }
                        return count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
    }
}
