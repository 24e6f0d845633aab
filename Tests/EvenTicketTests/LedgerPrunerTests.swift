import EvenTicketTesting
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import EvenTicketContracts
@testable import MessageBus

/// The processed-messages ledger keeps an hour: pruning deletes what is older, along the
/// primary key for time-ordered ids (a BRIN index on the handling's time stops narrowing the
/// search once pruned pages are reused), and rarely by that time for other ids.
@Suite("Ledger pruning", .timeLimit(.minutes(2)))
struct LedgerPrunerTests {
    @Test func entriesOlderThanTheRetentionGoAndTheRestStay() async throws {
        try await TestSystem.withDatabase { client, logger in
            var ids = TimeOrderedUUIDs()
            let twoHoursAgo = Date().addingTimeInterval(-7_200)
            func insert(_ consumer: String, _ id: UUID, handledMinutesAgo minutes: Int) async throws {
                _ = try await client.query(
                    "INSERT INTO bus.processed_messages (consumer, message_id, processed_at) VALUES (\(consumer), \(id), now() - \(minutes) * interval '1 minute')",
                    logger: logger).collect()
            }
            let old = (0..<25).map { _ in ids.next(at: twoHoursAgo) }
            for id in old { try await insert("ordering", id, handledMinutesAgo: 120) }
            let oldOfAnother = ids.next(at: twoHoursAgo)
            try await insert("inventory", oldOfAnother, handledMinutesAgo: 119)
            // Created two hours ago, handled ten minutes ago (a delayed or retried message).
            let handledLately = ids.next(at: twoHoursAgo)
            try await insert("payment", handledLately, handledMinutesAgo: 10)
            let recent = ids.next(at: Date())
            try await insert("inventory", recent, handledMinutesAgo: 0)
            // Another publisher's random id, handled two hours ago.
            let random = UUID()
            try await insert("orchestrator", random, handledMinutesAgo: 120)

            let pruner = LedgerPruner(client: client, retention: .seconds(3_600), logger: logger)
            // In chunks of 10: every consumer's old entries, over several chunks.
            #expect(try await pruner.prune(chunk: 10) == 26)
            func left() async throws -> Set<UUID> {
                var ids: Set<UUID> = []
                for try await id in try await client.query("SELECT message_id FROM bus.processed_messages", logger: logger).decode(UUID.self) {
                    ids.insert(id)
                }
                return ids
            }
            #expect(try await left() == [handledLately, recent, random])
            // The pass for other ids takes the random one, and nothing handled within the hour.
            #expect(try await pruner.prune(chunk: 10, otherIDs: true) == 1)
            #expect(try await left() == [handledLately, recent])
        }
    }

    @Test func aChunkWalksThePrimaryKey() async throws {
        try await TestSystem.withDatabase { client, logger in
            // As the orchestrator's connections plan it (see `EvenTicketSystem.servicePoolSettings`).
            let plan = try await client.withConnection { connection in
                _ = try await connection.query("SET enable_seqscan = off", logger: logger).collect()
                let statement = LedgerPruner.chunkStatement(cutoff: UUID.timeOrderedFloor(of: Date()), retention: .seconds(3_600), chunk: 5_000)
                var lines: [String] = []
                for try await line in try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN " + statement.sql, binds: statement.binds), logger: logger).decode(String.self) {
                    lines.append(line)
                }
                return lines.joined(separator: "\n")
            }
            #expect(plan.contains("processed_messages_pkey"), "\(plan)")
            #expect(!plan.contains("processed_messages_at_idx"), "\(plan)")
            #expect(!plan.contains("Seq Scan"), "\(plan)")
        }
    }

    @Test func theFloorOfAMillisecondSortsBetweenItsIdsAndTheOnesBefore() {
        var ids = TimeOrderedUUIDs()
        let date = Date(timeIntervalSince1970: 1_764_000_000.250)
        let before = ids.next(at: date.addingTimeInterval(-0.001))
        let floor = UUID.timeOrderedFloor(of: date)
        let after = ids.next(at: date)
        #expect(before.uuidString < floor.uuidString)
        #expect(floor.uuidString <= after.uuidString)
    }
}
