import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
@testable import MessageBus
import PostgresNIO
import Synchronization
import Testing

/// The claim by id of a failed batch's message, which records its failure, waits for a consumer
/// that took the message in between instead of skipping it.
@Suite("Claiming a message alone", .timeLimit(.minutes(2)))
struct ClaimAloneTests {
    enum Holder: String, CaseIterable { case rollsBack, handlesIt }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .sequentiallyConsistent) }
        var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    }

    @Test(arguments: Holder.allCases)
    func theClaimWaitsForTheConsumerHoldingTheMessage(_ holder: Holder) async throws {
        try await TestSystem.withDatabase { client, logger in
            let message = MessageBusTests.message()
            try await MessageBusTests.publish([message], client: client, logger: logger)
            let id = message.envelope.messageID
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let (release, releasing) = AsyncStream.makeStream(of: Void.self)
            let finished = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Another consumer's batch holds the message.
                group.addTask {
                    try await client.withConnection { connection in
                        _ = try await connection.query("BEGIN", logger: logger).collect()
                        _ = try await connection.query("SELECT 1 FROM bus.messages WHERE id = \(id) FOR UPDATE", logger: logger).collect()
                        holding.yield()
                        for await _ in release { break }
                        if holder == .handlesIt {
                            _ = try await connection.query("DELETE FROM bus.messages WHERE id = \(id)", logger: logger).collect()
                        }
                        _ = try await connection.query(holder == .handlesIt ? "COMMIT" : "ROLLBACK", logger: logger).collect()
                    }
                }
                for await _ in held { break }
                group.addTask {
                    let claimed = try await client.withTransaction(logger: logger) { connection in
                        try await QueueStore().claim(id, consumer: "alone-test", on: connection, logger: logger)
                    }
                    finished.set()
                    switch holder {
                    case .rollsBack: #expect(claimed?.envelope.messageID == id, "the message came back: it is claimed")
                    case .handlesIt: #expect(claimed == nil, "the message was handled: nothing to claim")
                    }
                }
                try await Task.sleep(for: .milliseconds(500))
                let finishedEarly = finished.isSet
                #expect(!finishedEarly, "the claim waits while the message is held")
                releasing.yield()
                try await group.waitForAll()
            }
            let finishedAtLast = finished.isSet
            #expect(finishedAtLast)
        }
    }
}
