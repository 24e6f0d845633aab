import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Live progress: on a terminal one line rewritten in place twice a second, elsewhere a plain
/// line every 5 s.
struct ProgressDisplay {
    struct Sample {
        var phase: String
        var elapsed: Double
        var placed: Int
        var completed: Int
        var inFlight: Int
    }

    let descriptor: Int32
    let interactive: Bool
    private var lastShown: Double = -.infinity
    /// Recent (time, completed) pairs for a completion rate over the last few seconds.
    private var history: [(time: Double, completed: Int)] = []
    private var lineShown = false

    /// Writes to `descriptor` (standard output, or standard error under `--json`).
    init(descriptor: Int32) {
        self.descriptor = descriptor
        interactive = isatty(descriptor) == 1
    }

    mutating func show(_ sample: Sample) {
        history.append((sample.elapsed, sample.completed))
        history.removeAll { sample.elapsed - $0.time > 5 }
        guard sample.elapsed - lastShown >= (interactive ? 0.5 : 5) else { return }
        lastShown = sample.elapsed
        let first = history.first!
        let span = sample.elapsed - first.time
        let rate = span > 0.2 ? Double(sample.completed - first.completed) / span : 0
        let text = "[\(sample.phase)] \(number(sample.elapsed, 1)) s  placed \(sample.placed)  completed \(sample.completed)  \(number(rate, 1))/s  in flight \(sample.inFlight)"
        if interactive {
            write("\r" + text + "\u{1B}[K")
            lineShown = true
        } else {
            write(text + "\n")
        }
    }

    /// Ends the rewritten line so that what follows starts on a line of its own.
    mutating func finish() {
        if interactive, lineShown { write("\n") }
        lineShown = false
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
