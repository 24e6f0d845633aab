import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import LoadGenerator

@Suite("Latency plot")
struct LatencyPlotTests {
    static let headline = LatencyPlot.Series(
        name: "all but tok_timeout", color: "#1f77b4",
        points: [.init(percentile: 0, milliseconds: 12), .init(percentile: 50, milliseconds: 20),
                 .init(percentile: 99, milliseconds: 45), .init(percentile: 100, milliseconds: 61)])
    static let slow = LatencyPlot.Series(
        name: "tok_timeout <slow & late>", color: "#ff7f0e",
        points: [.init(percentile: 0, milliseconds: 2100), .init(percentile: 100, milliseconds: 2400)])

    @Test("renders a well-formed SVG document with a line and a legend entry per series")
    func wellFormed() throws {
        let svg = LatencyPlot(title: "Bench & latency", series: [Self.headline, Self.slow]).render()
        let collector = ElementCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "SVG does not parse: \(String(describing: parser.parserError))")
        #expect(collector.elements.first == "svg")
        #expect(collector.seriesNames == ["all but tok_timeout", "tok_timeout <slow & late>"])
        #expect(collector.texts.contains("Bench & latency"))
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "Percentile", "Latency (ms)", "tok_timeout <slow & late>"] {
            #expect(collector.texts.contains(label), "missing text \(label)")
        }
    }

    @Test("an empty plot still renders axes")
    func empty() {
        let svg = LatencyPlot(title: "nothing", series: []).render()
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.contains("Percentile"))
        #expect(!svg.contains("<polyline"))
    }

    @Test("the x axis counts nines and the y axis ends on a round number")
    func scales() {
        #expect(LatencyPlot.nines(0) == 0)
        #expect(abs(LatencyPlot.nines(90) - 1) < 1e-9)
        #expect(abs(LatencyPlot.nines(99.9) - 3) < 1e-9)
        #expect(LatencyPlot.nines(100) == 4)
        #expect(LatencyPlot.nines(99.9999) == 4)
        #expect(LatencyPlot.niceCeiling(61) == 80)
        #expect(LatencyPlot.niceCeiling(5861) == 6000)
        #expect(LatencyPlot.niceCeiling(100) == 100)
        #expect(LatencyPlot.niceCeiling(0) == 1)
    }
}

/// Collects element names, texts and the series' names from a parsed SVG.
final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var texts: [String] = []
    var seriesNames: [String] = []
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append(name)
        if name == "polyline", attributes["class"] == "series", let series = attributes["data-name"] { seriesNames.append(series) }
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(text) }
        text = ""
    }
}
