import Foundation

/// A percentile-distribution plot as a standalone SVG document, drawn like HdrHistogram's:
/// the x axis is the percentile on a "nines" scale (0%, 90%, 99%, 99.9%, 99.99%), the y axis the
/// latency in milliseconds, one line per class of orders.
public struct LatencyPlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var points: [BenchReport.Point]

        public init(name: String, color: String, points: [BenchReport.Point]) {
            self.name = name
            self.color = color
            self.points = points
        }
    }

    public var title: String
    public var series: [Series]
    var width = 900.0
    var height = 520.0
    let left = 80.0, right = 30.0, top = 60.0, bottom = 60.0
    /// The right end of the x axis: 99.99%, four nines.
    static let maximumNines = 4.0

    public init(title: String, series: [Series]) {
        self.title = title
        self.series = series
    }

    /// How many nines a percentile has: 0 for 0%, 1 for 90%, 2 for 99%… capped at the axis end.
    static func nines(_ percentile: Double) -> Double {
        guard percentile < 100 else { return maximumNines }
        return min(log10(100 / (100 - max(percentile, 0))), maximumNines)
    }

    /// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ) at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] where factor * magnitude >= value * 0.999_999 {
            return factor * magnitude
        }
        return 10 * magnitude
    }

    /// The SVG document.
    public func render() -> String {
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maxValue = Self.niceCeiling(series.flatMap(\.points).map(\.milliseconds).max() ?? 1)
        func x(_ percentile: Double) -> Double { left + Self.nines(percentile) / Self.maximumNines * plotWidth }
        func y(_ milliseconds: Double) -> Double { top + plotHeight - milliseconds / maxValue * plotHeight }
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(width / 2))" y="28" text-anchor="middle" font-size="16" font-weight="bold">\(Self.escape(title))</text>

            """
        // Grid and x ticks at each nine.
        for (label, percentile) in [("0%", 0.0), ("90%", 90), ("99%", 99), ("99.9%", 99.9), ("99.99%", 99.99)] {
            let px = f(x(percentile))
            svg += "<line x1=\"\(px)\" y1=\"\(f(top))\" x2=\"\(px)\" y2=\"\(f(top + plotHeight))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(px)\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for step in 0...5 {
            let value = maxValue * Double(step) / 5
            let py = f(y(value))
            svg += "<line x1=\"\(f(left))\" y1=\"\(py)\" x2=\"\(f(left + plotWidth))\" y2=\"\(py)\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(f(left - 8))\" y=\"\(py)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(Self.label(value))</text>\n"
        }
        // Axes and their titles.
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(top + plotHeight))\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\" stroke=\"black\"/>\n"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 16))\" text-anchor=\"middle\">Percentile</text>\n"
        svg += "<text x=\"20\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 20 \(f(top + plotHeight / 2)))\">Latency (ms)</text>\n"
        // One line per series, and the legend.
        for (index, line) in series.enumerated() {
            let points = line.points.map { "\(f(x($0.percentile))),\(f(y($0.milliseconds)))" }.joined(separator: " ")
            if !points.isEmpty {
                svg += "<polyline class=\"series\" data-name=\"\(Self.escape(line.name))\" fill=\"none\" stroke=\"\(Self.escape(line.color))\" stroke-width=\"2\" points=\"\(points)\"/>\n"
            }
            let legendY = top + 16 + Double(index) * 18
            svg += "<line x1=\"\(f(left + 16))\" y1=\"\(f(legendY))\" x2=\"\(f(left + 40))\" y2=\"\(f(legendY))\" stroke=\"\(Self.escape(line.color))\" stroke-width=\"3\"/>\n"
            svg += "<text x=\"\(f(left + 46))\" y=\"\(f(legendY))\" dominant-baseline=\"middle\">\(Self.escape(line.name))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    static func label(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

private func f(_ value: Double) -> String {
    String(format: "%.1f", value)
}
