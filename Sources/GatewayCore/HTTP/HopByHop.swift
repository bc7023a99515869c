/// Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, so the gateway
/// passes none of them on, in either direction, nor any field a `Connection` header names.
/// The one list for requests going up, responses coming back, and the config check.
package enum HopByHop {
    package static let names: HeaderNameSet = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The field names listed in every `Connection` header, lower-cased.
    ///
    /// The values are split on their bytes: splitting the String walks it Character by
    /// Character, with grapheme breaking, on every request and every response.
    package static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        var names: Set<String> = []
        for value in headers.values("connection") {
            var value = value
            value.withUTF8 { bytes in
                var start = 0
                while start <= bytes.count {
                    let comma = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
                    var (from, to) = (start, comma)
                    while from < to, HTTPSyntax.isWhitespace(bytes[from]) { from += 1 }
                    while to > from, HTTPSyntax.isWhitespace(bytes[to - 1]) { to -= 1 }
                    if from < to {
                        names.insert(String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self).asciiLowercased)
                    }
                    start = comma + 1
                }
            }
        }
        return names
    }
}
