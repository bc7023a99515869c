/// Percent-encoding over raw bytes (RFC 3986 §2.1), shared by the path and query code.
///
/// Works on UTF-8 bytes, not `String`, so nothing is normalised or replaced on the way:
/// what the client wrote is what gets checked and, where allowed, forwarded.
enum PercentEncoding {
    /// The value of one hex digit, either case (RFC 3986 §2.1: `%2e` and `%2E` are equal).
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Decodes every `%XX`; `nil` when a `%` is not followed by two hex digits.
    /// - Parameter plusAsSpace: `+` means a space, as in form-encoded query keys
    ///   (WHATWG URL `application/x-www-form-urlencoded` parsing).
    static func decode(_ bytes: some Collection<UInt8>, plusAsSpace: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            index = bytes.index(after: index)
            if byte == UInt8(ascii: "%") {
                guard index != bytes.endIndex, let high = hexValue(bytes[index]) else { return nil }
                index = bytes.index(after: index)
                guard index != bytes.endIndex, let low = hexValue(bytes[index]) else { return nil }
                index = bytes.index(after: index)
                out.append(high << 4 | low)
            } else if plusAsSpace && byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(byte)
            }
        }
        return out
    }

    /// `true` when every `%` starts a valid `%XX` escape.
    static func hasValidEscapes(_ bytes: some Collection<UInt8>) -> Bool {
        decode(bytes) != nil
    }

    /// RFC 3986 §2.3 unreserved: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Bytes that may never appear unescaped in a URI path or query (RFC 3986 §3.3, §3.4):
    /// controls, space, non-ASCII and `" < > \ ^ ` { | }`. `[` `]` are left alone as
    /// browsers and curl do. `#` and `%` are not listed: callers reject or check them.
    static func isDisallowedInURI(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x00...0x20, 0x7F...0xFF: true
        case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\\"),
            UInt8(ascii: "^"), UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"),
            UInt8(ascii: "}"):
            true
        default: false
        }
    }

    /// Escapes every byte for which `escape` is true as `%XX` (upper-case hex, RFC 3986 §2.1).
    static func encode(_ bytes: some Sequence<UInt8>, escaping escape: (UInt8) -> Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount)
        for byte in bytes {
            if escape(byte) {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes everything but the unreserved set: for values the gateway itself puts in a URI.
    static func encodeComponent(_ text: String) -> String {
        encode(text.utf8) { !isUnreserved($0) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}
