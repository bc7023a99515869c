/// Builds the upstream query string from the target's, the client's and the endpoint's
/// `default_query_params` (docs/BEHAVIOUR.md §3).
enum QueryMerger {
    /// One `key[=value]` piece of a query, kept raw; `key` is decoded for comparison only.
    struct Pair {
        var raw: Substring
        package var key: [UInt8]
    }

    /// The query to send upstream, without `?`; `nil` for none.
    ///
    /// Without merging (`merge` false and no defaults) the client's query replaces the
    /// target's, as httpx `params=` does in LiteLLM; the target's is kept when the client
    /// sent none. With merging, precedence is defaults < target < client by decoded key:
    /// a key present at a higher level drops every lower-level pair with that key, the
    /// client's repeated keys all stay, and the order is defaults, target, client.
    /// - Parameter client: the client's query after `normalizedClientQuery`.
    static func query(
        client: String?, target: String?, defaults: [(name: String, value: String)], merge: Bool
    ) -> String? {
        let target = target.flatMap { $0.isEmpty ? nil : $0 }
        guard merge || !defaults.isEmpty else { return client ?? target }

        let clientPairs = client.map(pairs) ?? []
        let clientKeys = Set(clientPairs.map(\.key))
        let targetPairs = (target.map(pairs) ?? []).filter { !clientKeys.contains($0.key) }
        let upperKeys = clientKeys.union(targetPairs.map(\.key))

        var pieces: [String] = []
        for (name, value) in defaults where !upperKeys.contains(Array(name.utf8)) {
            // The operator's text, so encode it; RFC 3986 §2.3 unreserved bytes stay.
            pieces.append(PercentEncoding.encodeComponent(name) + "=" + PercentEncoding.encodeComponent(value))
        }
        pieces += targetPairs.map { String($0.raw) }
        pieces += clientPairs.map { String($0.raw) }
        return pieces.isEmpty ? nil : pieces.joined(separator: "&")
    }

    /// Checks and tidies the client's raw query: `nil` when absent or empty (`?` alone).
    /// - Throws: 400 for `#` (a fragment never belongs in a request target, RFC 9112 §3.2)
    ///   or a `%` not starting a valid escape: an upstream could decode either a different
    ///   way than we compared it (QRY-01), so it is refused rather than repaired.
    /// Bytes RFC 3986 §3.4 never allows raw (space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`,
    /// `|`, `}`, controls, non-ASCII) are percent-encoded; everything else stays as written.
    static func normalizedClientQuery(_ raw: Substring?) throws(GatewayError) -> String? {
        guard let raw, !raw.isEmpty else { return nil }
        if raw.utf8.contains(UInt8(ascii: "#")) { throw .badRequest("Invalid query string: fragment marker.") }
        guard PercentEncoding.hasValidEscapes(raw.utf8) else {
            throw .badRequest("Invalid query string: malformed percent escape.")
        }
        return PercentEncoding.encode(raw.utf8, escaping: PercentEncoding.isDisallowedInURI)
    }

    /// Splits on `&` only; `;` is data (Go CVE-2021-44716 changed `net/url` the same way).
    /// Empty pieces are dropped. Keys compare decoded, `+` as space, as form decoding does;
    /// a key that does not decode (only possible in the operator's target) compares raw.
    static func pairs(_ query: String) -> [Pair] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { piece in
            let rawKey = piece.firstIndex(of: "=").map { piece[..<$0] } ?? piece
            let key = PercentEncoding.decode(rawKey.utf8, plusAsSpace: true) ?? Array(rawKey.utf8)
            return Pair(raw: piece, key: key)
        }
    }
}
