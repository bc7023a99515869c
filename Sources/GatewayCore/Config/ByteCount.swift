/// A size in bytes as the command line and the config file write it: digits, optionally
/// followed by `k`, `m` or `g` (any case) for KiB, MiB or GiB (`65536`, `512k`, `1g`).
package enum ByteCount {
    /// The number of bytes, or `nil` when `text` is not such a size or does not fit an `Int`.
    package static func parse(_ text: String) -> Int? {
        let lower = text.asciiLowercased
        let multiplier: Int
        var digits = Substring(lower)
        switch lower.last {
        case "k": multiplier = 1 << 10; digits = digits.dropLast()
        case "m": multiplier = 1 << 20; digits = digits.dropLast()
        case "g": multiplier = 1 << 30; digits = digits.dropLast()
        default: multiplier = 1
        }
        guard let n = Int(digits), n >= 0, n <= Int.max / multiplier else { return nil }
        return n * multiplier
    }
}
