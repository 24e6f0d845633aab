import Foundation
import Testing
@testable import LoadGenerator

@Suite("Queues from the services' metrics")
struct ServiceMetricsTests {
    /// One process's exposition: the three histograms for two queues (the same counts for each
    /// histogram of a queue), with other lines around them.
    static func exposition(inventory: [Double], ordering: [Double], sum: Double = 0.5) -> String {
        let bounds = ["0.001", "0.005", "0.01", "0.05", "+Inf"]
        var lines = [
            "# TYPE eventicket_bus_delivery_delay_seconds histogram",
            #"eventicket_bus_messages_total{queue="inventory",outcome="handled"} 40"#,
            #"http_server_request_duration_seconds_bucket{http_route="/orders",le="0.005"} 3"#,
        ]
        for metric in ["eventicket_bus_delivery_delay_seconds", "eventicket_bus_batch_duration_seconds", "eventicket_bus_batch_messages"] {
            for (queue, counts) in [("inventory", inventory), ("ordering", ordering)] {
                for (bound, count) in zip(bounds, counts) {
                    lines.append(#"\#(metric)_bucket{queue="\#(queue)",le="\#(bound)"} \#(count)"#)
                }
                lines.append(#"\#(metric)_sum{queue="\#(queue)"} \#(sum)"#)
                lines.append(#"\#(metric)_count{queue="\#(queue)"} \#(counts.last ?? 0)"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func histogramsAreReadPerQueueAndNothingElse() {
        let metrics = ServiceMetrics.parse(Self.exposition(inventory: [1, 5, 8, 10, 10], ordering: [0, 0, 2, 4, 4], sum: 0.25))
        #expect(metrics.waits["inventory"] == .init(buckets: [0.001: 1, 0.005: 5, 0.01: 8, 0.05: 10, .infinity: 10], sum: 0.25))
        #expect(metrics.waits["ordering"]?.buckets[0.01] == 2)
        #expect(metrics.waits.count == 2)
        #expect(metrics.batchTimes["ordering"]?.count == 4)
        #expect(metrics.batchSizes["inventory"]?.sum == 0.25)
    }

    @Test func processesAreAddedAndTheWindowIsTheDifference() {
        let start = ServiceMetrics.merged([
            ServiceMetrics.parse(Self.exposition(inventory: [1, 1, 1, 1, 1], ordering: [0, 0, 0, 0, 0], sum: 1)),
            ServiceMetrics.parse(Self.exposition(inventory: [0, 1, 1, 1, 1], ordering: [0, 0, 0, 0, 0], sum: 1)),
        ])
        let end = ServiceMetrics.merged([
            ServiceMetrics.parse(Self.exposition(inventory: [1, 3, 5, 7, 7], ordering: [0, 2, 2, 2, 2], sum: 2)),
            ServiceMetrics.parse(Self.exposition(inventory: [0, 3, 3, 3, 3], ordering: [0, 0, 0, 0, 0], sum: 1.5)),
        ])
        let window = end.subtracting(start)
        #expect(window.waits["inventory"] == .init(buckets: [0.001: 0, 0.005: 4, 0.01: 6, 0.05: 8, .infinity: 8], sum: 1.5))
        #expect(window.waits["ordering"]?.buckets == [0.001: 0, 0.005: 2, 0.01: 2, 0.05: 2, .infinity: 2])
        #expect(window.batchSizes["inventory"]?.count == 8)
    }

    @Test func quantilesAreInterpolatedInsideTheirBucketAsPrometheusDoes() throws {
        // 10 values: 4 up to 1 ms, 4 more up to 5 ms, 2 more up to 10 ms.
        let counts: [(key: Double, value: Double)] = [(0.001, 4), (0.005, 8), (0.01, 10), (.infinity, 10)]
        // Rank 5 is the first of the 4 in (1, 5] ms: a quarter of the way.
        #expect(try #require(ServiceMetrics.quantile(0.5, of: counts)).isApproximately(0.002))
        // Rank 2 is halfway through the first bucket, which starts at 0.
        #expect(try #require(ServiceMetrics.quantile(0.2, of: counts)).isApproximately(0.0005))
        // Rank 9.9 is 95% of the way through (5, 10] ms.
        #expect(try #require(ServiceMetrics.quantile(0.99, of: counts)).isApproximately(0.00975))
        // Beyond the last finite bound there is nothing to interpolate.
        #expect(ServiceMetrics.quantile(0.99, of: [(0.001, 1), (.infinity, 10)]) == nil)
        #expect(ServiceMetrics.quantile(0.5, of: [(0.001, 0), (.infinity, 0)]) == nil)
    }

    @Test func theSummaryHasAQueueOnlyWhenItWasClaimedFrom() throws {
        let histogram = ServiceMetrics.Histogram(buckets: [0.001: 4, 0.005: 8, 0.01: 10, .infinity: 10], sum: 0.04)
        let sizes = ServiceMetrics.Histogram(buckets: [1: 2, 5: 5, .infinity: 5], sum: 10)
        let metrics = ServiceMetrics(
            waits: ["inventory": histogram, "payment": .init(buckets: [0.001: 0, .infinity: 0])],
            batchTimes: ["inventory": histogram], batchSizes: ["inventory": sizes])
        let summary = metrics.summary
        #expect(summary.map(\.queue) == ["inventory"])
        let inventory = try #require(summary.first)
        #expect(inventory.claims == 10)
        #expect(try #require(inventory.waitP50).isApproximately(2))
        #expect(try #require(inventory.waitP99).isApproximately(9.75))
        #expect(inventory.batches == 10)
        #expect(inventory.messagesPerBatch == 2)
        #expect(try #require(inventory.batchTimeP50).isApproximately(2))
    }
}

extension Double {
    func isApproximately(_ other: Double) -> Bool { abs(self - other) < 1e-9 }
}
