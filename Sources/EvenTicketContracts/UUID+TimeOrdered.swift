import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension UUID {
    /// A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, 12 bits of a per-process
    /// counter (RFC 9562's `rand_a`, its method 1), then 62 random bits. Ids this process makes
    /// later sort later, also within a millisecond and when the clock steps back (see
    /// ``TimeOrderedUUIDs``), so primary-key indexes grow at their right edge instead of
    /// touching a random page per insert (fewer pages dirtied, fewer full-page images in the
    /// WAL), and a listing by id is in creation order.
    ///
    /// The random bits come from the system's generator, read 256 bytes at a time (see
    /// ``RandomPool``): a `getrandom` system call per id cost about 1% of each process's CPU.
    public static func timeOrdered() -> UUID {
        timeOrderedUUIDs.withLock { $0.next(at: Date()) }
    }

    /// The smallest version 7 UUID of `date`'s millisecond: every time-ordered id made before
    /// that millisecond sorts below it, every one made in it or after does not.
    public static func timeOrderedFloor(of date: Date) -> UUID {
        TimeOrderedUUIDs.uuid(milliseconds: TimeOrderedUUIDs.milliseconds(of: date), sequence: 0, random: 0)
    }
}

/// Makes version 7 UUIDs that increase: the millisecond never goes below the last id's, and
/// within one millisecond the 12-bit counter counts up; past its 4,096th id in a millisecond
/// (or while the clock is behind the last id's), an id takes the next millisecond.
struct TimeOrderedUUIDs {
    private var lastMillisecond: UInt64 = 0
    private var sequence: UInt16 = 0
    private var random = RandomPool()

    static func milliseconds(of date: Date) -> UInt64 {
        UInt64(max(date.timeIntervalSince1970, 0) * 1000)
    }

    mutating func next(at date: Date) -> UUID {
        var milliseconds = Self.milliseconds(of: date)
        if milliseconds <= lastMillisecond {
            if sequence < 0x0FFF {
                sequence += 1
            } else {
                lastMillisecond += 1
                sequence = 0
            }
            milliseconds = lastMillisecond
        } else {
            lastMillisecond = milliseconds
            sequence = 0
        }
        return Self.uuid(milliseconds: milliseconds, sequence: sequence, random: random.next())
    }

    /// The layout: 48 bits of milliseconds, the version (7) and 12 bits of counter, the variant
    /// and 62 random bits.
    static func uuid(milliseconds: UInt64, sequence: UInt16, random: UInt64) -> UUID {
        func byte(_ value: UInt64, _ shift: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: value >> shift) }
        return UUID(uuid: (
            byte(milliseconds, 40), byte(milliseconds, 32), byte(milliseconds, 24), byte(milliseconds, 16),
            byte(milliseconds, 8), byte(milliseconds, 0),
            0x70 | UInt8(sequence >> 8), UInt8(truncatingIfNeeded: sequence), // version 7, counter
            0x80 | (byte(random, 56) & 0x3F), // RFC 9562 variant
            byte(random, 48), byte(random, 40), byte(random, 32), byte(random, 24), byte(random, 16), byte(random, 8), byte(random, 0)))
    }
}

/// The process's ids (``Foundation/UUID/timeOrdered()``).
private let timeOrderedUUIDs = Mutex(TimeOrderedUUIDs())

/// Random 64-bit values from the system's cryptographic generator (`/dev/urandom`, read 256
/// bytes at a time), handed out once each. Where that cannot be read, each block comes from
/// `SystemRandomNumberGenerator`.
struct RandomPool {
    private var values = [UInt64](repeating: 0, count: 32)
    private var index = 32
    #if canImport(Glibc)
    private let device = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    #endif

    mutating func next() -> UInt64 {
        if index == values.count {
            fill()
            index = 0
        }
        defer { index += 1 }
        return values[index]
    }

    private mutating func fill() {
        #if canImport(Glibc)
        if device >= 0 {
            let device = self.device
            let filled = values.withUnsafeMutableBytes { bytes -> Bool in
                var offset = 0
                while offset < bytes.count {
                    let count = read(device, bytes.baseAddress! + offset, bytes.count - offset)
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { return false }
                    offset += count
                }
                return true
            }
            if filled { return }
        }
        #endif
        var generator = SystemRandomNumberGenerator()
        for index in values.indices { values[index] = generator.next() }
    }
}

