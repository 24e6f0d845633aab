import Foundation
import NIOCore

/// The wait of each hop, per queue, from the services' own metrics (`bench --metrics`): the
/// `eventicket_bus_delivery_delay_seconds` histograms of every child process, read at the
/// window's edges and subtracted, so the figures cover the window's claims only. A histogram's
/// quantiles are estimated as Prometheus's `histogram_quantile` does: by linear interpolation
/// inside the bucket the rank falls in, so they are only as fine as the buckets.
struct HopWaits: Sendable, Equatable {
    /// Per queue, the cumulative count of each bucket's upper bound (seconds; `+Inf` included).
    var buckets: [String: [Double: Double]]

    static let metric = "eventicket_bus_delivery_delay_seconds_bucket"

    /// Reads the buckets of `metric` out of Prometheus's text format.
    static func parse(_ text: String) -> HopWaits {
        var buckets: [String: [Double: Double]] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(metric + "{") {
            guard let close = line.lastIndex(of: "}"),
                  let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            let labels = Self.labels(line[line.index(line.startIndex, offsetBy: metric.count + 1)..<close])
            guard let queue = labels["queue"], let le = labels["le"].flatMap(Self.bound) else { continue }
            buckets[queue, default: [:]][le] = value
        }
        return HopWaits(buckets: buckets)
    }

    /// `a="x",b="y"` (values without commas or escapes, as these are).
    private static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            labels[String(parts[0])] = String(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        }
        return labels
    }

    private static func bound(_ text: String) -> Double? {
        text == "+Inf" ? .infinity : Double(text)
    }

    /// The sum of several processes' histograms.
    static func merged(_ parts: [HopWaits]) -> HopWaits {
        var buckets: [String: [Double: Double]] = [:]
        for part in parts {
            for (queue, counts) in part.buckets {
                buckets[queue, default: [:]].merge(counts, uniquingKeysWith: +)
            }
        }
        return HopWaits(buckets: buckets)
    }

    /// What was counted after `earlier`.
    func subtracting(_ earlier: HopWaits) -> HopWaits {
        var buckets: [String: [Double: Double]] = [:]
        for (queue, counts) in self.buckets {
            let before = earlier.buckets[queue] ?? [:]
            buckets[queue] = counts.mapValues { $0 }.merging(before.mapValues { -$0 }, uniquingKeysWith: +)
        }
        return HopWaits(buckets: buckets)
    }

    /// The report's rows, one per queue with claims, by queue name.
    var summary: [BenchReport.HopWait] {
        buckets.keys.sorted().compactMap { queue in
            let counts = buckets[queue]!.sorted { $0.key < $1.key }
            guard let total = counts.last?.value, total > 0 else { return nil }
            func ms(_ quantile: Double) -> Double? { Self.quantile(quantile, of: counts).map { $0 * 1000 } }
            return BenchReport.HopWait(queue: queue, count: Int(total), p50: ms(0.5), p90: ms(0.9), p99: ms(0.99))
        }
    }

    /// The `q` quantile of cumulative bucket counts sorted by bound, interpolated linearly
    /// inside its bucket (from 0 for the first); nil when it falls in the `+Inf` bucket.
    static func quantile(_ q: Double, of counts: [(key: Double, value: Double)]) -> Double? {
        guard let total = counts.last?.value, total > 0 else { return nil }
        let rank = q * total
        var lowerBound = 0.0
        var lowerCount = 0.0
        for (bound, count) in counts {
            if count >= rank {
                guard bound.isFinite else { return nil }
                let inBucket = count - lowerCount
                return inBucket > 0 ? lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket : bound
            }
            lowerBound = bound
            lowerCount = count
        }
        return nil
    }

    /// Reads the histograms of the processes serving metrics on `ports`; a process that does not
    /// answer adds nothing (the report then says how many answered).
    static func read(ports: [Int]) async -> (waits: HopWaits, answered: Int) {
        var parts: [HopWaits] = []
        for port in ports {
            guard let client = try? BenchHTTPClient(baseURL: "http://127.0.0.1:\(port)", maximumConnections: 1) else { continue }
            if let response = try? await client.send(client.request(.GET, "/metrics")), response.status == 200 {
                parts.append(parse(String(buffer: response.body)))
            }
            await client.shutdown()
        }
        return (merged(parts), parts.count)
    }
}
