import Database
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Places orders through `POST /orders`: a closed loop of virtual clients, or an open loop on a
/// fixed schedule. A non-202 answer or a transport error is counted, never fatal.
struct OrderDriver: Sendable {
    let api: BenchAPI
    let target: BenchAPI.Target
    let mix: TokenMix
    let ledger: OrderLedger
    let load: BenchConfiguration.Load

    /// Places orders until the ledger says stop (or the task is cancelled).
    func run() async {
        switch load {
        case .closed(let concurrency):
            await withDiscardingTaskGroup { group in
                for _ in 0..<concurrency {
                    group.addTask { await closedLoopClient() }
                }
            }
        case .open(let rate, let maxInFlight):
            await openLoop(rate: rate, maxInFlight: maxInFlight)
        }
    }

    /// One virtual client: place, wait until terminal, repeat.
    private func closedLoopClient() async {
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled, case .send(let number) = ledger.permit() {
            let token = mix.pick(using: &random)
            let sentAt = Date()
            if let id = await place(number: number, token: token) {
                await ledger.acceptedAndWait(id, sentAt: sentAt, slow: token == .timeout)
            } else {
                ledger.requestEnded()
                // A refused or failed request: do not spin on a broken system.
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Launches order `i` at `start + i / rate`, each in a task of its own.
    ///
    /// The schedule's wake-ups are timers of the event loop the tasks run on (see
    /// ``EventLoop/sleep(until:)``), not `Task.sleep`: those timers went through Dispatch's
    /// threads, and each order's request then hopped back to the event loop.
    private func openLoop(rate: Double, maxInFlight: Int) async {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let start = NIODeadline.now()
        func due(_ slot: Int) -> NIODeadline { start + .nanoseconds(Int64((Double(slot) * 1e9 / rate).rounded())) }
        var slot = 0
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                do { try await loop.sleep(until: due(slot)) } catch { break }
                // Everything due by now goes out, so a slow wake-up does not lower the rate.
                var stop = false
                while NIODeadline.now() >= due(slot) {
                    let scheduled = due(slot)
                    slot += 1
                    switch ledger.permit(cap: maxInFlight) {
                    case .stop: stop = true
                    case .dropped: continue
                    case .send(let number):
                        let late = NIODeadline.now() - scheduled > .milliseconds(10)
                        group.addTask {
                            var random = SystemRandomNumberGenerator()
                            let token = mix.pick(using: &random)
                            let sentAt = Date()
                            if let id = await place(number: number, token: token) {
                                ledger.accepted(id, sentAt: sentAt, slow: token == .timeout, late: late)
                            } else {
                                ledger.requestEnded(late: late)
                            }
                        }
                    }
                    if stop { break }
                }
                if stop { break }
            }
        }
    }

    /// Sends one order; returns its id when it was accepted.
    private func place(number: Int, token: TokenMix.Token) async -> UUID? {
        do {
            let response = try await api.http.send(api.orderRequest(target, number: number, token: token))
            guard response.status == 202 else {
                ledger.failed("http_\(response.status)")
                return nil
            }
            guard let id = BenchAPI.orderID(in: response.body) else {
                ledger.failed("unreadable_202_body")
                return nil
            }
            return id
        } catch {
            // Requests cut short at the end of the run are not the system's errors.
            if Task.isCancelled || error is CancellationError { return nil }
            ledger.failed("transport: " + String(String(describing: error).prefix(80)))
            return nil
        }
    }
}
