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
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// C0 controls and DEL, except horizontal tab (allowed in field values, RFC 9110 §5.5).
    /// A CR or LF in a header value would split the message (header injection).
    static func hasControlCharacter(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }
}
