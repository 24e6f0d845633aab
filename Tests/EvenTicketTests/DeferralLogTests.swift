import Logging
@testable import MessageBus
import Testing

/// A claim loop that leaves messages queued for saga rows held elsewhere: when it says so
/// above debug level.
@Suite("Deferred messages")
struct DeferralLogTests {
    @Test func onlyAStreakOf10SecondsIsANotice() {
        let handler = CapturingLogHandler(label: "eventicket.test")
        let logger = Logger(label: "eventicket.test") { _ in handler }
        var log = DeferralLog()
        let start = ContinuousClock.now
        // Routine: a stage's two replies claimed by two loops at once, now and then.
        log.note(2, now: start, logger: logger)
        log.note(0, now: start + .seconds(1), logger: logger)
        log.note(1, now: start + .seconds(11), logger: logger)
        #expect(!handler.text.contains("notice"))
        #expect(handler.text.contains("debug"))

        // A row held for long: every batch leaves its message queued. The notice comes once the
        // streak has lasted 10 s, and not again within 10 s.
        log.note(0, now: start + .seconds(19), logger: logger)
        var now = start + .seconds(20)
        for _ in 0..<12 {
            log.note(1, now: now, logger: logger)
            now += .seconds(1)
        }
        let notices = handler.text.split(separator: "\n").filter { $0.hasPrefix("notice") }
        #expect(notices.count == 1)
        #expect(notices.first?.contains("in every batch") == true)
        #expect(notices.first?.contains("pg_stat_activity") == true)
    }
}
