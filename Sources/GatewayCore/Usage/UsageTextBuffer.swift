/// The bytes of a member or model name being read, kept inline up to the longest one kept.
struct UsageTextBuffer {
    private var bytes = InlineArray<256, UInt8>(repeating: 0)
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func removeAll() { count = 0 }

    /// The caller keeps `count` within `UsageJSONScanner.maxModelBytes`.
    mutating func append(_ byte: UInt8) {
        bytes[count] = byte
        count += 1
    }

    mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        for byte in run {
            bytes[count] = byte
            count += 1
        }
    }

    func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        bytes.span.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }
}
