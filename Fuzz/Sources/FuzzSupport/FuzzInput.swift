/// Reads structured values from libFuzzer's bytes, front to back.
///
/// Every read succeeds: past the end it yields zeros and empty strings, so any input
/// decodes to some request and the fuzzer never wastes executions on parse failures.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = Array(bytes)
    }

    public var isAtEnd: Bool { offset >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// One of `choices`, picked by the next byte.
    public mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int(byte()) % choices.count]
    }

    /// A length byte, then up to that many raw bytes.
    public mutating func blob() -> [UInt8] {
        let count = min(Int(byte()), bytes.count - min(offset, bytes.count))
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// `blob()` as text; invalid UTF-8 is repaired, as `String(decoding:)` does everywhere
    /// the gateway turns C bytes into strings.
    public mutating func string() -> String {
        String(decoding: blob(), as: UTF8.self)
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return offset < bytes.count ? Array(bytes[offset...]) : []
    }
}

/// Stops the run with a crash libFuzzer records as a finding, naming the broken rule.
public func violated(_ rule: String, _ detail: @autoclosure () -> String = "") -> Never {
    fatalError("invariant violated: \(rule)\n\(detail())")
}

/// Byte-wise search: `String.contains` compares grapheme clusters and would miss a
/// secret followed by a combining mark.
public func containsBytes(_ haystack: String, _ needle: String) -> Bool {
    let h = Array(haystack.utf8), n = Array(needle.utf8)
    guard !n.isEmpty else { return true }
    guard h.count >= n.count else { return false }
    for start in 0...(h.count - n.count) where h[start] == n[0] && h[start..<start + n.count].elementsEqual(n) {
        return true
    }
    return false
}
