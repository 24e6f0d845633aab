import Foundation
import NIOCore

/// The services' own view of each queue (`bench --metrics`): from every child process's
/// `GET /metrics`, the histograms of each hop's wait (`eventicket_bus_delivery_delay_seconds`),
/// of the consumers' batch times (`eventicket_bus_batch_duration_seconds`) and sizes
/// (`eventicket_bus_batch_messages`), read at the window's edges and subtracted, so the figures
/// cover the window only. A histogram's quantiles are estimated as Prometheus's
/// `histogram_quantile` does: by linear interpolation inside the bucket the rank falls in, so
/// they are only as fine as the buckets.
struct ServiceMetrics: Sendable, Equatable {
    /// One histogram per queue: the cumulative count at each bucket's upper bound (`+Inf`
    /// included), and the sum of the values observed.
    struct Histogram: Sendable, Equatable {
        var buckets: [Double: Double] = [:]
        var sum: Double = 0

        var count: Double { buckets[.infinity] ?? 0 }
    }

    /// Per queue: each hop's wait (seconds).
    var waits: [String: Histogram]
    /// Per queue: each committed batch's time from `BEGIN` to commit (seconds).
    var batchTimes: [String: Histogram] = [:]
    /// Per queue: messages per committed batch.
    var batchSizes: [String: Histogram] = [:]

    static let waitMetric = "eventicket_bus_delivery_delay_seconds"
    static let batchTimeMetric = "eventicket_bus_batch_duration_seconds"
    static let batchSizeMetric = "eventicket_bus_batch_messages"

    /// Reads the three histograms out of Prometheus's text format.
    static func parse(_ text: String) -> ServiceMetrics {
        var histograms: [String: [String: Histogram]] = [:]
        for line in text.split(separator: "\n") {
            guard let brace = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}"), brace < close,
                  let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            let name = line[..<brace]
            let labels = Self.labels(line[line.index(after: brace)..<close])
            guard let queue = labels["queue"] else { continue }
            for metric in [waitMetric, batchTimeMetric, batchSizeMetric] where name.hasPrefix(metric) {
                switch name.dropFirst(metric.count) {
                case "_bucket":
                    guard let bound = labels["le"].flatMap(Self.bound) else { continue }
                    histograms[metric, default: [:]][queue, default: Histogram()].buckets[bound] = value
                case "_sum":
                    histograms[metric, default: [:]][queue, default: Histogram()].sum = value
                default:
                    continue
                }
            }
        }
        return ServiceMetrics(
            waits: histograms[waitMetric] ?? [:], batchTimes: histograms[batchTimeMetric] ?? [:],
            batchSizes: histograms[batchSizeMetric] ?? [:])
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
    static func merged(_ parts: [ServiceMetrics]) -> ServiceMetrics {
        func merge(_ tables: [[String: Histogram]]) -> [String: Histogram] {
            var merged: [String: Histogram] = [:]
            for table in tables {
                for (queue, histogram) in table {
                    merged[queue, default: Histogram()].buckets.merge(histogram.buckets, uniquingKeysWith: +)
                    merged[queue, default: Histogram()].sum += histogram.sum
                }
            }
            return merged
        }
        return ServiceMetrics(
            waits: merge(parts.map(\.waits)), batchTimes: merge(parts.map(\.batchTimes)), batchSizes: merge(parts.map(\.batchSizes)))
    }

    /// What was counted after `earlier`.
    func subtracting(_ earlier: ServiceMetrics) -> ServiceMetrics {
        func subtract(_ later: [String: Histogram], _ earlier: [String: Histogram]) -> [String: Histogram] {
            later.reduce(into: [:]) { result, entry in
                let before = earlier[entry.key] ?? Histogram()
                result[entry.key] = Histogram(
                    buckets: entry.value.buckets.merging(before.buckets.mapValues { -$0 }, uniquingKeysWith: +),
                    sum: entry.value.sum - before.sum)
            }
        }
        return ServiceMetrics(
            waits: subtract(waits, earlier.waits), batchTimes: subtract(batchTimes, earlier.batchTimes),
            batchSizes: subtract(batchSizes, earlier.batchSizes))
    }

    /// The report's rows, one per queue with claims, by queue name.
    var summary: [BenchReport.QueueFigures] {
        waits.keys.sorted().compactMap { queue in
            let wait = waits[queue]!
            guard wait.count > 0 else { return nil }
            func ms(_ quantile: Double, _ histogram: Histogram?) -> Double? {
                histogram.flatMap { Self.quantile(quantile, of: $0) }.map { $0 * 1000 }
            }
            let times = batchTimes[queue]
            let sizes = batchSizes[queue]
            return BenchReport.QueueFigures(
                queue: queue, claims: Int(wait.count), waitP50: ms(0.5, wait), waitP90: ms(0.9, wait), waitP99: ms(0.99, wait),
                batches: Int(times?.count ?? 0),
                messagesPerBatch: sizes.flatMap { $0.count > 0 ? $0.sum / $0.count : nil },
                batchTimeP50: ms(0.5, times), batchTimeP99: ms(0.99, times))
        }
    }

    /// The `q` quantile of a histogram, interpolated linearly inside its bucket (from 0 for the
    /// first); nil when it is empty or the quantile falls in the `+Inf` bucket.
    static func quantile(_ q: Double, of histogram: Histogram) -> Double? {
        quantile(q, of: histogram.buckets.sorted { $0.key < $1.key })
    }

    /// As ``quantile(_:of:)-(_,Histogram)``, of cumulative counts sorted by bound.
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
    static func read(ports: [Int]) async -> (metrics: ServiceMetrics, answered: Int) {
        var parts: [ServiceMetrics] = []
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
