import GatewayCrypto

/// The SHA-256 of a key: how keys are configured (`key_hash`), looked up and limited.
///
/// Four words rather than an array: hashing and comparing it costs a few instructions
/// and no allocation, and it can live in shared memory as it is. A digest is what a
/// presented key is turned into first, so a lookup never compares the key itself and
/// nothing about a key's prefix shows in the timing.
public struct KeyDigest: Sendable, Hashable {
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// The digest of `key`.
    public init(of key: some StringProtocol) {
        self.init(bytes: SHA256.hash(key.utf8))!
    }

    /// 32 bytes, big-endian words.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        func word(_ at: Int) -> UInt64 {
            bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) }
        }
        words = (word(0), word(8), word(16), word(24))
    }

    /// 64 hex digits, either case (LiteLLM's `hash_token` writes lower case).
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        [words.0, words.1, words.2, words.3].flatMap { word in (0..<8).reversed().map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    }

    /// 64 lower-case hex digits: what `/key/info` shows and `keys hash` prints.
    public var hex: String { Hex.encode(bytes) }

    public static func == (a: KeyDigest, b: KeyDigest) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    /// The digest is uniformly distributed: one word is as good a hash as all four.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
