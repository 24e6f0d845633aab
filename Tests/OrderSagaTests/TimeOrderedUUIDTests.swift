import Foundation
import Testing
@testable import EvenTicketContracts

@Suite("Time-ordered ids")
struct TimeOrderedUUIDTests {
    static func milliseconds(of id: UUID) -> UInt64 {
        withUnsafeBytes(of: id.uuid) { bytes in bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    }

    @Test func carryTheMillisecondVersionAndVariantAndIncreaseWithinAMillisecond() {
        var ids = TimeOrderedUUIDs()
        let date = Date(timeIntervalSince1970: 1_764_000_000.123)
        // More than the 12-bit counter holds: past 4,096 in a millisecond, ids take the next one.
        let made = (0..<5_000).map { _ in ids.next(at: date) }
        #expect(Set(made).count == made.count)
        // The random 62 bits alone differ too (random values are drawn in blocks; none is
        // handed out twice, and the blocks are not repeated).
        let randomBits = made.map { id in withUnsafeBytes(of: id.uuid) { Array($0[8...]) } }
        #expect(Set(randomBits).count == made.count)
        for id in made {
            let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 7)
            #expect(bytes[8] >> 6 == 0b10)
        }
        #expect(made.prefix(4_096).allSatisfy { Self.milliseconds(of: $0) == 1_764_000_000_123 })
        #expect(made.dropFirst(4_096).allSatisfy { Self.milliseconds(of: $0) == 1_764_000_000_124 })
        // In the order made, as text too (what PostgreSQL's uuid order follows); the counter
        // wrapped within the millisecond before, and the 4,097th id sorted first.
        #expect(zip(made, made.dropFirst()).allSatisfy { $0.uuidString < $1.uuidString })
        // A later millisecond sorts later.
        let later = ids.next(at: date.addingTimeInterval(0.01))
        #expect(Self.milliseconds(of: later) == 1_764_000_000_133)
        #expect(made.allSatisfy { $0.uuidString < later.uuidString })
    }

    @Test func aClockThatStepsBackDoesNotTakeTheIdsBackWithIt() {
        var ids = TimeOrderedUUIDs()
        let date = Date(timeIntervalSince1970: 1_764_000_000.500)
        let before = ids.next(at: date)
        let after = ids.next(at: date.addingTimeInterval(-2))
        #expect(before.uuidString < after.uuidString)
        #expect(Self.milliseconds(of: after) == 1_764_000_000_500)
    }

    @Test func theProcesssIdsIncrease() {
        let made = (0..<10_000).map { _ in UUID.timeOrdered() }
        #expect(zip(made, made.dropFirst()).allSatisfy { $0.uuidString < $1.uuidString })
    }
}
