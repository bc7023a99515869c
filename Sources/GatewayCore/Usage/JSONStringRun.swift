/// Finds where a run of plain bytes inside a JSON string ends, eight bytes at a time.
///
/// Most of a request or response body is string text that a scanner only has to pass
/// over; testing a 64-bit word for any byte that needs a look (`"`, `\`, a control byte,
/// and optionally one of 0x80 and above) costs about what one byte's test did.
enum JSONStringRun {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let high: UInt64 = 0x8080_8080_8080_8080

    /// The index of the first byte at or after `start` that is `"`, `\` or below 0x20,
    /// or with `stoppingAtNonASCII` also 0x80 or above; `bytes.count` when there is none.
    static func end(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, stoppingAtNonASCII: Bool) -> Int {
        guard let base = bytes.baseAddress else { return start }
        let count = bytes.count
        var index = start
        while index + 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            // Each term marks the high bit of every byte it matches; a borrow can mark a
            // byte it does not match, but only above one it does, so the lowest mark is
            // always a real match.
            var marks = zeroBytes(word ^ (ones &* 0x22)) | zeroBytes(word ^ (ones &* 0x5C)) | ((word &- ones &* 0x20) & ~word & high)
            if stoppingAtNonASCII { marks |= word & high }
            if marks != 0 { return index + marks.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < count {
            let byte = bytes[index]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 || (stoppingAtNonASCII && byte >= 0x80) { return index }
            index += 1
        }
        return count
    }

    /// The high bit of every zero byte of `word` (and possibly of bytes above one).
    @inline(__always)
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- ones) & ~word & high
    }
}
