import Foundation

/// Decides which headers go upstream (docs/BEHAVIOUR.md §3). Built once per config.
///
/// Order of the rules: reject unsafe values,
/// drop hop-by-hop and framing headers, drop client credentials, then add the configured
/// headers, which always win over client-derived ones of the same name.
struct HeaderPolicy: Sendable {
    let masterKey: String?
    /// `litellm_key_header_name`, lower-cased.
    let keyHeaderName: String?
    /// The clients' own keys: a header carrying one never leaves either.
    let keys: KeyTable

    init(masterKey: String?, keyHeaderName: String?, keys: KeyTable = KeyTable([])) {
        self.masterKey = masterKey.flatMap { $0.isEmpty ? nil : $0 }
        self.keyHeaderName = keyHeaderName?.asciiLowercased
        self.keys = keys
    }

    /// Fields the transport owns: it sets `Host` from the target and frames the body, and
    /// the gateway neither negotiates encodings it would have to undo (LiteLLM PR #37058)
    /// nor sends `100-continue` for a body it already holds.
    static let framing: HeaderNameSet = ["host", "content-length", "accept-encoding", "expect"]

    /// Every standard header that can carry the gateway key (`KeyExtractor.standardSources`).
    static let credentials = HeaderNameSet(KeyExtractor.standardSources.map(\.name))

    static let passPrefix: StaticString = "x-pass-"

    /// The headers to send upstream for `request` on `endpoint`: the configured ones first,
    /// in file order, then client-derived ones in the client's order.
    /// - Throws: 400 when a client header value holds CR, LF or NUL (RFC 9110 §5.5), or a
    ///   header to forward has a name that is not a token (RFC 9110 §5.6.2). Never echoes it.
    func upstreamHeaders(for request: GatewayRequest, endpoint: Endpoint) throws(GatewayError) -> HTTPHeaders {
        let client = request.headers
        for field in client where field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            throw .badRequest("Invalid request header value.")
        }
        let configured = endpoint.headerNames
        let connectionNamed = HopByHop.connectionTokens(client)
        let endpointKeyHeaders = [keyHeaderName, endpoint.userKeyHeader?.asciiLowercased].compactMap { $0 }
        // docs/BEHAVIOUR.md §3: on an endpoint that authenticates, no header that can carry the gateway
        // key leaves; configured names are dropped from the client side anyway. The
        // endpoint's `litellm_user_api_key` header exists only to carry the gateway key and
        // is never sent upstream (docs/BEHAVIOUR.md §1), with or without a master key.
        let stripsCredentials = masterKey != nil && endpoint.auth
        let userKeyHeader = endpoint.userKeyHeader?.asciiLowercased
        func stripped(_ name: String) -> Bool {
            (stripsCredentials && (Self.credentials.contains(name) || endpointKeyHeaders.contains(name))) || name == userKeyHeader
        }

        var derived: [(field: HTTPHeaders.Field, passed: Bool)] = []
        for field in client {
            let name = field.name.asciiLowercased
            // Most requests name no header in `Connection` and configure few: no hashing then.
            if (!connectionNamed.isEmpty && connectionNamed.contains(name)) || (!configured.isEmpty && configured.contains(name)) {
                continue
            }
            if name.hasBytePrefix(Self.passPrefix) {
                // `x-pass-NAME: v` → `NAME: v` whatever `forward_headers` says (LiteLLM).
                let target = String(name.utf8.dropFirst(Self.passPrefix.utf8CodeUnitCount))!
                let refused =
                    target.isEmpty || Self.isTransportOwned(target) || Self.credentials.contains(target)
                    || endpointKeyHeaders.contains(target) || target.hasBytePrefix("x-amz-")
                    || connectionNamed.contains(target) || configured.contains(target)
                if !refused { derived.append((HTTPHeaders.Field(name: target, value: field.value), true)) }
                continue
            }
            if endpoint.forwardHeaders {
                if Self.isTransportOwned(name) || stripped(name) { continue }
            } else {
                // The body goes byte for byte, so its type must too; otherwise the transport
                // would invent a form `Content-Type` (docs/ARCHITECTURE.md, "URLSession: headers it adds").
                guard name == "content-type", !request.body.isEmpty else { continue }
            }
            derived.append((field, false))
        }

        // An explicit `x-pass-NAME` replaces a forwarded `NAME`, never both.
        let passedNames = derived.contains(where: \.passed) ? Set(derived.filter(\.passed).map { $0.field.name }) : []
        var headers = endpoint.headers
        for (field, passed) in derived where passed || !passedNames.contains(field.name.asciiLowercased) {
            // docs/BEHAVIOUR.md §3: a header holding the master key never leaves, on any endpoint.
            if let masterKey, Self.containsBytes(field.value, masterKey) { continue }
            // Nor one holding a client's key, bare or as a Bearer token (docs/KEYS.md); keys
            // are known only by digest, so the forms a key is presented in are what is checked.
            if !keys.isEmpty, carriesClientKey(field.value) { continue }
            guard HTTPSyntax.isToken(field.name) else { throw .badRequest("Invalid request header name.") }
            headers.append(field.name, field.value)
        }
        return headers
    }

    /// Whether `value` is a configured client key, or `Bearer` and one.
    func carriesClientKey(_ value: String) -> Bool {
        let trimmed = HTTPSyntax.trimmingWhitespace(value)
        guard trimmed.utf8.count <= 1024 else { return false }
        let token = KeyExtractor.bearerToken(trimmed) ?? trimmed
        return keys[KeyDigest(of: token)] != nil
    }

    /// Hop-by-hop, `proxy-*`, `Proxy` (httpoxy: never let a client name an outbound proxy)
    /// and framing fields.
    static func isTransportOwned(_ name: String) -> Bool {
        HopByHop.names.contains(name) || framing.contains(name) || name == "proxy" || name.hasBytePrefix("proxy-")
    }

    /// Byte-wise substring search. `String.contains` compares grapheme clusters, so a key
    /// followed by a combining mark (`sk-key\u{301}`) would not be found by it. Reads both
    /// strings in place: it runs for every forwarded header.
    static func containsBytes(_ haystack: String, _ needle: String) -> Bool {
        var haystack = haystack, needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in
                guard !n.isEmpty, h.count >= n.count else { return n.isEmpty }
                for start in 0...(h.count - n.count) where h[start] == n[0] && memcmp(h.baseAddress! + start, n.baseAddress!, n.count) == 0
                {
                    return true
                }
                return false
            }
        }
    }
}
