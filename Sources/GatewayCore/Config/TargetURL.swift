/// An endpoint's `target`, split into the parts the rewriter joins.
///
/// Kept as raw strings, not `URL`, so the path and query reach the upstream
/// exactly as the operator wrote them.
public struct TargetURL: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`, lower-case.
    public var scheme: String
    /// `host[:port]` as written (IPv6 in brackets).
    public var authority: String
    /// The path as written; may be empty.
    public var path: String
    /// The query without `?`; `nil` when the target has none.
    public var query: String?

    public init(scheme: String, authority: String, path: String, query: String?) {
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.query = query
    }

    /// Parses an absolute `http(s)://authority[/path][?query]` URL; `nil` for anything else
    /// (relative, other schemes, userinfo, fragments, whitespace or control bytes).
    public init?(parsing text: String) {
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "#") || $0 >= 0x80 })
        else { return nil }
        let lower = text.asciiLowercased
        let rest: Substring
        if lower.hasPrefix("https://") {
            scheme = "https"
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            scheme = "http"
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        // Userinfo in a target would be sent as Basic credentials by libcurl: refuse it.
        guard !authority.isEmpty, !authority.contains("@"), Self.isHostAndPort(authority) else { return nil }
        self.authority = String(authority)
        let afterAuthority = rest[authorityEnd...]
        if let q = afterAuthority.firstIndex(of: "?") {
            path = String(afterAuthority[..<q])
            query = String(afterAuthority[afterAuthority.index(after: q)...])
        } else {
            path = String(afterAuthority)
            query = nil
        }
    }

    /// RFC 3986 §3.2.2-3: `reg-name` or IPv4 or `[IPv6]`, then an optional `:port`. Anything
    /// else (`http://::1/x`, a stray `\`) would be read differently by the transport, or
    /// only fail at the first request, so it is refused when the config loads.
    static func isHostAndPort(_ authority: Substring) -> Bool {
        var host = authority
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return false }
            let literal = authority[authority.index(after: authority.startIndex)..<close]
            guard !literal.isEmpty, literal.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return false }
            host = authority[...close]
            port = after.isEmpty ? nil : after.dropFirst()
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let name = parts.first, !name.isEmpty else { return false }
            let allowed = "-._~!$&'()*+,;=%"
            guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) }),
                PercentEncoding.hasValidEscapes(name.utf8)
            else { return false }
            host = name
            port = parts.count == 2 ? parts[1] : nil
        }
        if let port {
            guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), Int(port)! <= 65535 else {
                return false
            }
        }
        return !host.isEmpty
    }

    /// `scheme://authority`
    public var origin: String { "\(scheme)://\(authority)" }

    public var description: String {
        origin + path + (query.map { "?" + $0 } ?? "")
    }
}
