/// Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, so the gateway
/// passes none of them on, in either direction, nor any field a `Connection` header names.
/// The one list for requests going up, responses coming back, and the config check.
package enum HopByHop {
    package static let names: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The field names listed in every `Connection` header, lower-cased.
    package static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        var names: Set<String> = []
        for value in headers.values("connection") {
            for token in value.split(separator: ",") {
                let name = HTTPSyntax.trimmingWhitespace(token)
                if !name.isEmpty { names.insert(String(name).asciiLowercased) }
            }
        }
        return names
    }
}
