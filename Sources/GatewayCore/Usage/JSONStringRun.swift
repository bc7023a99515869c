/// Finds where a run of plain bytes inside a JSON string ends, eight bytes at a time.
///
/// Most of a request or response body is string text that a scanner only has to pass
/// over; testing a 64-bit word for any byte that needs a look (`"`, `\`, a control byte,
/// and optionally one of 0x80 and above) costs about what one byte's test did.
enum JSONStringRun {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let high: UInt64 = 0x8080_8080_8080_8080

    /// The index of the first byte at or after `start` that is `"`, `\`, or below 0x20,
    /// or with `stoppingAtNonASCII` also 0x80 or above; `bytes.count` when there is none.
    @inline(__always)
    static func end(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, stoppingAtNonASCII: Bool) -> Int {
        guard let base = bytes.baseAddress else { return start }
        // Two copies of the loop, the choice made once rather than in every turn.
        return stoppingAtNonASCII ? end(base, start, bytes.count, nonASCII: high) : end(base, start, bytes.count, nonASCII: 0)
    }

    @inline(__always)
    private static func end(_ base: UnsafePointer<UInt8>, _ start: Int, _ count: Int, nonASCII: UInt64) -> Int {
        var index = start
        // Two words a turn, one branch for both: most strings run on for dozens of bytes.
        while index &+ 16 <= count {
            let first = marks(load(base + index), nonASCII: nonASCII)
            let second = marks(load(base + (index &+ 8)), nonASCII: nonASCII)
            if first | second != 0 {
                return index &+ (first != 0 ? first.trailingZeroBitCount : 64 &+ second.trailingZeroBitCount) / 8
            }
            index &+= 16
        }
        if index &+ 8 <= count {
            let found = marks(load(base + index), nonASCII: nonASCII)
            if found != 0 { return index &+ found.trailingZeroBitCount / 8 }
            index &+= 8
        }
        while index < count {
            let byte = base[index]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 || UInt64(byte) & nonASCII != 0 { return index }
            index &+= 1
        }
        return count
    }

    @inline(__always)
    private static func load(_ at: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(at).loadUnaligned(as: UInt64.self))
    }

    /// The high bit of each byte of `word` that stops a run. Three tests, each of the form
    /// `(x - k) & ~x & high` (a byte of `x` below `k`): `word ^ "` below 1, `word ^ \`
    /// below 1, `word` below 0x20. XOR with an ASCII byte keeps a byte's high bit, so the
    /// three share one `~word & high`. A borrow can mark a byte that does not match, but
    /// only above one that does, so the lowest mark is always a real match.
    @inline(__always)
    private static func marks(_ word: UInt64, nonASCII: UInt64) -> UInt64 {
        let below = ((word ^ (ones &* 0x22)) &- ones) | ((word ^ (ones &* 0x5C)) &- ones) | (word &- ones &* 0x20)
        return ((below & ~word) | (word & nonASCII)) & high
    }
}
