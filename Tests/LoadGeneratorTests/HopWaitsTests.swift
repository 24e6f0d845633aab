import Foundation
import Testing
@testable import LoadGenerator

@Suite("Hop waits from the services' metrics")
struct HopWaitsTests {
    /// Two queues' histograms as a process exports them, with other lines around them.
    static func exposition(inventory: [Double], ordering: [Double]) -> String {
        let bounds = ["0.001", "0.005", "0.01", "0.05", "+Inf"]
        var lines = [
            "# TYPE eventicket_bus_delivery_delay_seconds histogram",
            #"eventicket_bus_messages_total{queue="inventory",outcome="handled"} 40"#,
        ]
        for (queue, counts) in [("inventory", inventory), ("ordering", ordering)] {
            for (bound, count) in zip(bounds, counts) {
                lines.append(#"eventicket_bus_delivery_delay_seconds_bucket{queue="\#(queue)",le="\#(bound)"} \#(count)"#)
            }
            lines.append(#"eventicket_bus_delivery_delay_seconds_sum{queue="\#(queue)"} 0.5"#)
            lines.append(#"eventicket_bus_delivery_delay_seconds_count{queue="\#(queue)"} \#(counts.last ?? 0)"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func bucketsAreReadPerQueueAndNothingElse() {
        let waits = HopWaits.parse(Self.exposition(inventory: [1, 5, 8, 10, 10], ordering: [0, 0, 2, 4, 4]))
        #expect(waits.buckets["inventory"] == [0.001: 1, 0.005: 5, 0.01: 8, 0.05: 10, .infinity: 10])
        #expect(waits.buckets["ordering"]?[0.01] == 2)
        #expect(waits.buckets.count == 2)
    }

    @Test func processesAreAddedAndTheWindowIsTheDifference() {
        let start = HopWaits.merged([
            HopWaits.parse(Self.exposition(inventory: [1, 1, 1, 1, 1], ordering: [0, 0, 0, 0, 0])),
            HopWaits.parse(Self.exposition(inventory: [0, 1, 1, 1, 1], ordering: [0, 0, 0, 0, 0])),
        ])
        let end = HopWaits.merged([
            HopWaits.parse(Self.exposition(inventory: [1, 3, 5, 7, 7], ordering: [0, 2, 2, 2, 2])),
            HopWaits.parse(Self.exposition(inventory: [0, 3, 3, 3, 3], ordering: [0, 0, 0, 0, 0])),
        ])
        let window = end.subtracting(start)
        #expect(window.buckets["inventory"] == [0.001: 0, 0.005: 4, 0.01: 6, 0.05: 8, .infinity: 8])
        #expect(window.buckets["ordering"] == [0.001: 0, 0.005: 2, 0.01: 2, 0.05: 2, .infinity: 2])
    }

    @Test func quantilesAreInterpolatedInsideTheirBucketAsPrometheusDoes() throws {
        // 10 waits: 4 up to 1 ms, 4 more up to 5 ms, 2 more up to 10 ms.
        let counts: [(key: Double, value: Double)] = [(0.001, 4), (0.005, 8), (0.01, 10), (.infinity, 10)]
        // Rank 5 is the first of the 4 in (1, 5] ms: a quarter of the way.
        #expect(try #require(HopWaits.quantile(0.5, of: counts)).isApproximately(0.002))
        // Rank 2 is halfway through the first bucket, which starts at 0.
        #expect(try #require(HopWaits.quantile(0.2, of: counts)).isApproximately(0.0005))
        // Rank 9.9 is 95% of the way through (5, 10] ms.
        #expect(try #require(HopWaits.quantile(0.99, of: counts)).isApproximately(0.00975))
        // Beyond the last finite bound there is nothing to interpolate.
        #expect(HopWaits.quantile(0.99, of: [(0.001, 1), (.infinity, 10)]) == nil)
        #expect(HopWaits.quantile(0.5, of: [(0.001, 0), (.infinity, 0)]) == nil)
    }

    @Test func theSummaryHasAQueueOnlyWhenItWasClaimedFrom() throws {
        let waits = HopWaits(buckets: [
            "inventory": [0.001: 4, 0.005: 8, 0.01: 10, .infinity: 10],
            "payment": [0.001: 0, .infinity: 0],
        ])
        let summary = waits.summary
        #expect(summary.map(\.queue) == ["inventory"])
        let inventory = try #require(summary.first)
        #expect(inventory.count == 10)
        #expect(try #require(inventory.p50).isApproximately(2))
        #expect(try #require(inventory.p99).isApproximately(9.75))
    }
}

extension Double {
    func isApproximately(_ other: Double) -> Bool { abs(self - other) < 1e-9 }
}
