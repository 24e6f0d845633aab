import Database
import EvenTicketTesting
import Foundation
import PostgresNIO
import Testing

@Suite("Row reader", .timeLimit(.minutes(3)))
struct RowReaderTests {
    @Test func readsEachColumnInOrderAsTheTypeAskedForAndSaysWhenTheRowRunsOut() async throws {
        try await TestSystem.withDatabase { client, logger in
            let id = UUID()
            let rows = try await client.query(
                "SELECT \(id)::uuid, 'text', NULL::text, 42::bigint, NULL::integer, true, '2026-11-29T12:00:00Z'::timestamptz",
                logger: logger
            ).collect()
            let row = try #require(rows.first)
            var columns = RowReader(row)
            #expect(try columns.next(UUID.self) == id)
            #expect(try columns.next(String.self) == "text")
            #expect(try columns.next(String?.self) == nil)
            #expect(try columns.next(Int.self) == 42)
            #expect(try columns.next(Int?.self) == nil)
            #expect(try columns.next(Bool.self) == true)
            #expect(try columns.next(Date.self) == Date(timeIntervalSince1970: 1_795_953_600))
            #expect(throws: RowReaderError.self) { try columns.next(String.self) }

            // A column of the wrong type fails as postgres-nio's own decoding does.
            var mistyped = RowReader(row)
            #expect(throws: PostgresDecodingError.self) { try mistyped.next(Int.self) }
        }
    }
}
