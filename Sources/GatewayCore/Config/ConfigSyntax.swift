/// Character rules of the config checks beyond HTTP's own (`HTTPSyntax`): variable
/// names, ASCII, whitespace, and keys as messages may show them.
enum ConfigSyntax {
    /// An environment variable name as `os.environ/NAME` accepts it.
    static func isVariableName(_ text: String) -> Bool {
        !text.isEmpty && EnvReference.leadingName(Substring(text)).utf8.count == text.utf8.count
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")) || byte == UInt8(ascii: "_")
    }

    static func isASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 < 0x80 }
    }

    /// HTTP strips leading and trailing whitespace from field values (RFC 9110 §5.5).
    static func hasOuterWhitespace(_ text: String) -> Bool {
        guard let first = text.utf8.first, let last = text.utf8.last else { return false }
        return first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
    }

    /// A key as it may appear in a message: control characters escaped (a quoted YAML
    /// key can hold a newline, which would forge a log line) and long keys shortened.
    static func displayKey(_ key: String) -> String {
        let limit = 64
        var shown = ""
        for scalar in key.unicodeScalars.prefix(limit) {
            shown += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return key.unicodeScalars.count > limit ? shown + "..." : shown
    }

    static func asciiUppercased(_ text: String) -> String {
        String(decoding: text.utf8.map { ($0 >= 0x61 && $0 <= 0x7A) ? $0 & ~0x20 : $0 }, as: UTF8.self)
    }
}
