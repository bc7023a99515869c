/// Character rules of HTTP fields (RFC 9110 §5), shared by the config checks, the
/// request rewriter and the response header filter.
package enum HTTPSyntax {
    /// RFC 9110 §5.6.2 `token`: what a header name or a method must be.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenCharacter)
    }

    package static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        // RFC 9110 §5.6.2's other tchars, as cases: searching them as a string costs more
        // than the rest of the check, on every `-` of every header name.
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// C0 controls and DEL, except horizontal tab (allowed in field values, RFC 9110 §5.5).
    /// A CR or LF in a header value would split the message (header injection).
    static func hasControlCharacter(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    /// Drops optional whitespace around a field value (RFC 9110 §5.5).
    package static func trimmingWhitespace(_ value: some StringProtocol) -> Substring {
        let text = Substring(value)
        let start = text.utf8.firstIndex { !isWhitespace($0) } ?? text.endIndex
        let end = text.utf8.lastIndex { !isWhitespace($0) }.map { text.utf8.index(after: $0) } ?? start
        return start < end ? text[start..<end] : text[start..<start]
    }

    /// Whether a `Content-Type` value names `mediaType` (lower-case `type/subtype`),
    /// ignoring case, leading whitespace and any parameters; reads the value in place.
    package static func isMediaType(_ value: String, _ mediaType: StaticString) -> Bool {
        let wanted = UnsafeBufferPointer(start: mediaType.utf8Start, count: mediaType.utf8CodeUnitCount)
        // A native string's bytes in place; through the view, each step costs an index check.
        if let inPlace = value.utf8.withContiguousStorageIfAvailable({ isMediaType($0, wanted) }) { return inPlace }
        return Array(value.utf8).withUnsafeBufferPointer { isMediaType($0, wanted) }
    }

    private static func isMediaType(_ bytes: UnsafeBufferPointer<UInt8>, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0
        while start < bytes.count, isWhitespace(bytes[start]) { start += 1 }
        guard bytes.count - start >= wanted.count else { return false }
        for (offset, expected) in wanted.enumerated() {
            let byte = bytes[start + offset]
            guard (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == expected else { return false }
        }
        // `text/event-stream-x` is another type; a parameter or whitespace may follow.
        let end = start + wanted.count
        guard end < bytes.count else { return true }
        return bytes[end] == UInt8(ascii: ";") || isWhitespace(bytes[end])
    }

    /// Optional whitespace (RFC 9110 §5.6.3): space or tab.
    package static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
