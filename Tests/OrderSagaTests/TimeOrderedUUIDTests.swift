import EvenTicketContracts
import Foundation
import Testing

@Suite("Time-ordered ids")
struct TimeOrderedUUIDTests {
    @Test func carryTheMillisecondVersionAndVariantAndDifferWithinAMillisecond() {
        let date = Date(timeIntervalSince1970: 1_764_000_000.123)
        let ids = (0..<5_000).map { _ in UUID.timeOrdered(at: date) }
        #expect(Set(ids).count == ids.count)
        // The random 62 bits alone differ too (random values are drawn in blocks; none is
        // handed out twice, and the blocks are not repeated).
        let randomBits = ids.map { id in withUnsafeBytes(of: id.uuid) { Array($0[8...]) } }
        #expect(Set(randomBits).count == ids.count)
        for id in ids {
            let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
            let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(milliseconds == 1_764_000_000_123)
            #expect(bytes[6] >> 4 == 7)
            #expect(bytes[8] >> 6 == 0b10)
        }
        // Later milliseconds sort later, as text too (what PostgreSQL's uuid order follows).
        let later = UUID.timeOrdered(at: date.addingTimeInterval(0.001))
        #expect(ids.allSatisfy { $0.uuidString < later.uuidString })
    }
}
