import EvenTicketContracts
import Foundation

extension Array where Element == Envelope {
    /// Splits a batch into rounds that each hold at most one message per saga, keeping every
    /// saga's messages in delivery order across rounds. Set-based handlers handle a round in a
    /// few statements; nearly every batch is a single round.
    public var roundsBySaga: [[Envelope]] {
        var rounds: [[Envelope]] = []
        var seen: [UUID: Int] = [:]
        for envelope in self {
            let round = seen[envelope.sagaID, default: 0]
            seen[envelope.sagaID] = round + 1
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(envelope)
        }
        return rounds
    }
}
