import Foundation
import Testing
@testable import LoadGenerator

@Suite("Order ledger")
struct OrderLedgerTests {
    @Test("--orders caps the slots, and the open loop drops orders beyond the in-flight cap")
    func permits() {
        let ledger = OrderLedger(limit: 3, stepTimeout: 2)
        #expect(ledger.permit(cap: 1) == .send(number: 1))
        #expect(ledger.permit(cap: 1) == .dropped)
        ledger.requestEnded(late: true)
        #expect(ledger.permit(cap: 1) == .send(number: 3))
        #expect(ledger.permit(cap: 1) == .stop)
        #expect(ledger.limitReached)
        let state = ledger.state.value
        #expect((state.placed, state.dropped, state.late, state.scheduled) == (2, 1, 1, 3))
    }

    @Test("counts completions in the window and records latency only for orders sent in it")
    func window() {
        let ledger = OrderLedger(limit: nil, stepTimeout: 2)
        let t0 = Date(timeIntervalSince1970: 1_000)
        let before = UUID(), inside = UUID(), slow = UUID()
        for _ in 0..<3 { _ = ledger.permit() }
        ledger.accepted(before, sentAt: t0, slow: false)
        ledger.startWindow(at: t0.addingTimeInterval(1))
        ledger.accepted(inside, sentAt: t0.addingTimeInterval(2), slow: false)
        ledger.accepted(slow, sentAt: t0.addingTimeInterval(2), slow: true)
        // The slow order cannot have ended 1 s after it was sent: it is not polled yet.
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(3), interval: 0.02)) == [before, inside])
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(4), interval: 0.02)) == [before, inside, slow])
        ledger.completed([
            .init(id: before, status: "confirmed", reason: nil, updatedAt: t0.addingTimeInterval(1.5)),
            .init(id: inside, status: "rejected", reason: "payment_declined", updatedAt: t0.addingTimeInterval(2.25)),
        ])
        ledger.endWindow(at: t0.addingTimeInterval(5))
        ledger.completed([.init(id: slow, status: "rejected", reason: "payment_timeout", updatedAt: t0.addingTimeInterval(6))])
        let state = ledger.state.value
        #expect(state.completed == 3)
        #expect(state.completedInWindow == 2)
        #expect(state.outcomes == ["confirmed": 1, "rejected:payment_declined": 1, "rejected:payment_timeout": 1])
        #expect(state.headline.totalCount == 1)
        #expect(state.headline.max >= 249_000 && state.headline.max <= 251_000)
        // The one headline order was rejected: it is in the rejected split, not the confirmed one.
        #expect(state.headlineRejected.totalCount == 1)
        #expect(state.headlineConfirmed.totalCount == 0)
        #expect(state.slowClass.totalCount == 1)
        #expect(ledger.inFlight.orders == 0)
        #expect(ledger.inFlight.requests == 0)
    }

    @Test("headline latencies are kept by the second of the window the order was sent in")
    func bySecond() {
        let ledger = OrderLedger(limit: nil, stepTimeout: 2)
        let t0 = Date(timeIntervalSince1970: 1_000)
        let first = UUID(), second = UUID(), late = UUID(), slow = UUID()
        for _ in 0..<4 { _ = ledger.permit() }
        ledger.startWindow(at: t0)
        ledger.accepted(first, sentAt: t0.addingTimeInterval(0.2), slow: false)
        ledger.accepted(second, sentAt: t0.addingTimeInterval(0.9), slow: false)
        ledger.accepted(late, sentAt: t0.addingTimeInterval(2.5), slow: false)
        ledger.accepted(slow, sentAt: t0.addingTimeInterval(0.5), slow: true)
        ledger.completed([
            .init(id: first, status: "confirmed", reason: nil, updatedAt: t0.addingTimeInterval(0.25)),
            .init(id: second, status: "confirmed", reason: nil, updatedAt: t0.addingTimeInterval(1.0)),
            .init(id: late, status: "rejected", reason: "payment_declined", updatedAt: t0.addingTimeInterval(2.8)),
            .init(id: slow, status: "rejected", reason: "payment_timeout", updatedAt: t0.addingTimeInterval(3)),
        ])
        let bySecond = ledger.state.value.headlineBySecond
        #expect(bySecond.count == 3)
        #expect(bySecond[0].sorted().map { ($0 + 500) / 1000 } == [50, 100])
        #expect(bySecond[1].isEmpty)
        #expect(bySecond[2].map { ($0 + 500) / 1000 } == [300])
    }

    @Test("an order is asked about again after the poll interval, or after a quarter of its age if that is longer")
    func pollSchedule() {
        let ledger = OrderLedger(limit: nil, stepTimeout: 2)
        let t0 = Date(timeIntervalSince1970: 1_000)
        let young = UUID(), old = UUID()
        for _ in 0..<2 { _ = ledger.permit() }
        ledger.accepted(old, sentAt: t0, slow: false)
        ledger.accepted(young, sentAt: t0.addingTimeInterval(1.99), slow: false)
        // At 2 s: the young order is 10 ms old (next poll after the 20 ms interval), the old one
        // 2 s old (next poll after 500 ms).
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(2), interval: 0.02)) == [young, old])
        #expect(ledger.idsToPoll(now: t0.addingTimeInterval(2.01), interval: 0.02).isEmpty)
        #expect(ledger.idsToPoll(now: t0.addingTimeInterval(2.021), interval: 0.02) == [young])
        #expect(ledger.idsToPoll(now: t0.addingTimeInterval(2.49), interval: 0.02) == [young])
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(2.5), interval: 0.02)) == [old])
    }

    @Test("before the settle time ends, every order in flight is asked about at the next poll")
    func finalPoll() {
        let ledger = OrderLedger(limit: nil, stepTimeout: 2)
        let t0 = Date(timeIntervalSince1970: 1_000)
        let young = UUID(), old = UUID(), slow = UUID()
        for _ in 0..<3 { _ = ledger.permit() }
        ledger.accepted(old, sentAt: t0, slow: false)
        ledger.accepted(young, sentAt: t0.addingTimeInterval(1.99), slow: false)
        ledger.accepted(slow, sentAt: t0.addingTimeInterval(1.99), slow: true)
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(2), interval: 0.02)) == [young, old])
        // The old one would wait 500 ms, the slow one until it can have timed out.
        #expect(ledger.idsToPoll(now: t0.addingTimeInterval(2.01), interval: 0.02).isEmpty)
        #expect(ledger.pollEverythingNext() == 3)
        #expect(Set(ledger.idsToPoll(now: t0.addingTimeInterval(2.01), interval: 0.02)) == [young, old, slow])
    }

    @Test("draining wakes closed-loop clients and stops later ones from waiting")
    func drain() async {
        let ledger = OrderLedger(limit: nil, stepTimeout: 2)
        _ = ledger.permit()
        _ = ledger.permit()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ledger.acceptedAndWait(UUID(), sentAt: Date(), slow: false) }
            while ledger.inFlight.orders == 0 { await Task.yield() }
            #expect(ledger.drain() == 1)
        }
        await ledger.acceptedAndWait(UUID(), sentAt: Date(), slow: false)
        #expect(ledger.inFlight == (0, 0))
    }
}
