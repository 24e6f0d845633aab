import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

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

extension HandledBatch {
    /// Handles `envelopes` round by round (``Swift/Array/roundsBySaga``): `round` works out a
    /// round's replies and writes. Each round's writes run before the next round starts (it may
    /// read what they wrote); the last round's are left to the statement that publishes the
    /// replies.
    public static func inRounds<Writes: FinalWrites>(
        _ envelopes: [Envelope], on connection: PostgresConnection, logger: Logger,
        _ round: ([Envelope]) async throws -> (messages: [OutgoingMessage], writes: Writes?)
    ) async throws -> HandledBatch {
        var messages: [OutgoingMessage] = []
        var previous: Writes?
        for envelopes in envelopes.roundsBySaga {
            try await previous?.run(on: connection, logger: logger)
            let handled = try await round(envelopes)
            messages += handled.messages
            previous = handled.writes
        }
        return HandledBatch(messages: messages, finalWrites: previous)
    }

    /// As ``inRounds(_:on:logger:_:)``, handing the first round `claimed`: rows the claim read
    /// for the batch's sagas (``ClaimedSagaRows``), or nil. A later round gets nil and reads its
    /// rows itself, since the rounds before it may have written them.
    public static func inRounds<Writes: FinalWrites, Rows>(
        _ envelopes: [Envelope], claimed: Rows?, on connection: PostgresConnection, logger: Logger,
        _ round: ([Envelope], _ claimed: Rows?) async throws -> (messages: [OutgoingMessage], writes: Writes?)
    ) async throws -> HandledBatch {
        var claimed = claimed
        return try await inRounds(envelopes, on: connection, logger: logger) { envelopes in
            try await round(envelopes, claimed.take())
        }
    }

    /// Runs the final writes now and returns the messages: for a caller that publishes them
    /// itself (``MessageHandler/handleBatch(_:connection:logger:)`` of a handler that defers).
    public func writingNow(on connection: PostgresConnection, logger: Logger) async throws -> [OutgoingMessage] {
        try await finalWrites?.run(on: connection, logger: logger)
        return messages
    }
}
