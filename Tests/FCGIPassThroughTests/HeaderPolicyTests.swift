import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct HeaderPolicyTests {
    typealias E = TestSupport
    static let master = "sk-CANARY-master"

    /// The upstream headers as `name: value` lines.
    static func upstream(
        _ client: [(String, String)], endpoint: Endpoint, masterKey: String? = nil, keyHeaderName: String? = nil,
        body: String = ""
    ) throws -> [String] {
        let policy = HeaderPolicy(masterKey: masterKey, keyHeaderName: keyHeaderName)
        return E.pairs(try policy.upstreamHeaders(for: E.request("/x", headers: client, body: body), endpoint: endpoint))
    }

    static let forwarding = E.endpoint("/x", forwardHeaders: true)

    // MARK: hop-by-hop and transport-owned fields (security plan HDR-01)

    @Test func hopByHopAndFramingHeadersNeverLeave() throws {
        let client = [
            ("connection", "close, TE, X-Foo"), ("x-foo", "1"), ("keep-alive", "5"),
            ("proxy-connection", "x"), ("proxy-authorization", "x"), ("proxy", "http://sink:3128"),
            ("te", "trailers"), ("trailer", "X"), ("transfer-encoding", "chunked"), ("upgrade", "h2c"),
            ("host", "gateway.test"), ("content-length", "5"), ("accept-encoding", "br"), ("expect", "100-continue"),
            ("user-agent", "curl/8"), ("x-keep", "1"), ("trailers", "not-special"),
        ]
        #expect(try Self.upstream(client, endpoint: Self.forwarding) == ["user-agent: curl/8", "x-keep: 1", "trailers: not-special"])
    }

    @Test func everyConnectionHeaderNamesHopByHopFields() throws {
        // Go issue 16875: strip what Connection names, across repeated Connection headers.
        let client = [("connection", "x-a"), ("connection", " X-B ,,"), ("x-a", "1"), ("x-b", "2"), ("x-c", "3")]
        #expect(try Self.upstream(client, endpoint: Self.forwarding) == ["x-c: 3"])
    }

    @Test func emptyConnectionStripsNothingElse() throws {
        // Go CVE-2021-33197 regression: an empty Connection must not break filtering.
        #expect(try Self.upstream([("connection", ""), ("x-a", "1")], endpoint: Self.forwarding) == ["x-a: 1"])
    }

    @Test func duplicatesKeepTheirOrder() throws {
        let client = [("x-multi", "1"), ("accept", "a"), ("x-multi", "2")]
        #expect(try Self.upstream(client, endpoint: Self.forwarding) == ["x-multi: 1", "accept: a", "x-multi: 2"])
    }

    // MARK: configured headers

    @Test func configuredHeadersAlwaysGoAndWinCaseInsensitively() throws {
        let endpoint = E.endpoint(
            "/x", headers: [("Authorization", "bearer co-secret"), ("X-Custom", "configured")], forwardHeaders: true)
        let client = [("authorization", "Bearer client"), ("x-custom", "client"), ("X-CUSTOM", "again"), ("x-other", "1")]
        #expect(
            try Self.upstream(client, endpoint: endpoint)
                == ["Authorization: bearer co-secret", "X-Custom: configured", "x-other: 1"])
        let quiet = E.endpoint("/x", headers: [("accept", "application/json")])
        #expect(try Self.upstream([("x-other", "1")], endpoint: quiet) == ["accept: application/json"])
    }

    @Test func withoutForwardHeadersOnlyConfiguredContentTypeAndXPassGo() throws {
        let endpoint = E.endpoint("/x", headers: [("accept", "application/json")])
        let client = [("user-agent", "curl/8"), ("content-type", "multipart/form-data; boundary=abc"), ("x-trace", "1")]
        #expect(
            try Self.upstream(client, endpoint: endpoint, body: "--abc--")
                == ["accept: application/json", "content-type: multipart/form-data; boundary=abc"])
    }

    @Test func contentTypeNeedsABodyAndYieldsToConfiguration() throws {
        let plain = E.endpoint("/x")
        #expect(try Self.upstream([("content-type", "application/json")], endpoint: plain).isEmpty)
        let configured = E.endpoint("/x", headers: [("Content-Type", "application/json")])
        #expect(
            try Self.upstream([("content-type", "text/plain")], endpoint: configured, body: "{}")
                == ["Content-Type: application/json"])
        // With forward_headers it is an ordinary client header.
        #expect(try Self.upstream([("content-type", "text/plain")], endpoint: Self.forwarding) == ["content-type: text/plain"])
    }

    // MARK: x-pass-

    @Test func xPassIsTranslatedEvenWithoutForwardHeaders() throws {
        let client = [("x-pass-anthropic-beta", "beta-1"), ("x-pass-traceparent", "00-abc"), ("anthropic-beta", "plain")]
        #expect(try Self.upstream(client, endpoint: E.endpoint("/x")) == ["anthropic-beta: beta-1", "traceparent: 00-abc"])
    }

    @Test func xPassReplacesAForwardedHeaderOfTheSameName() throws {
        let client = [("anthropic-beta", "plain"), ("x-pass-anthropic-beta", "beta-1"), ("x-pass-anthropic-beta", "beta-2")]
        #expect(try Self.upstream(client, endpoint: Self.forwarding) == ["anthropic-beta: beta-1", "anthropic-beta: beta-2"])
    }

    @Test(arguments: [
        "authorization", "api-key", "x-api-key", "x-goog-api-key", "x-litellm-api-key", "ocp-apim-subscription-key",
        "host", "content-length", "accept-encoding", "expect", "x-amz-date", "x-amz-security-token",
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy", "proxy-authorization",
        "", "x-my-key", "x-user-key", "x-configured", "x-named",
    ])
    func xPassRefusesProtectedNames(name: String) throws {
        let endpoint = E.endpoint("/x", headers: [("X-Configured", "c")], userKeyHeader: "x-user-key", forwardHeaders: true, auth: false)
        let client = [("connection", "x-named"), ("x-pass-" + name, "v"), ("x-ok", "1")]
        #expect(try Self.upstream(client, endpoint: endpoint, keyHeaderName: "x-my-key") == ["X-Configured: c", "x-ok: 1"])
    }

    @Test func aConnectionNamedXPassHeaderIsDropped() throws {
        #expect(try Self.upstream([("connection", "x-pass-foo"), ("x-pass-foo", "1")], endpoint: E.endpoint("/x")).isEmpty)
    }

    // MARK: the gateway key never leaves (docs/BEHAVIOUR.md §3)

    @Test func keyCarryingHeadersAreStrippedOnAuthenticatingEndpoints() throws {
        let endpoint = E.endpoint("/x", userKeyHeader: "x-user-key", forwardHeaders: true)
        let client = [
            ("authorization", "Bearer other"), ("x-litellm-api-key", "other"), ("api-key", "other"), ("x-api-key", "other"),
            ("x-goog-api-key", "other"), ("ocp-apim-subscription-key", "other"), ("x-my-key", "other"),
            ("x-user-key", "other"), ("x-other", "1"),
        ]
        #expect(try Self.upstream(client, endpoint: endpoint, masterKey: Self.master, keyHeaderName: "x-my-key") == ["x-other: 1"])
    }

    @Test func aConfiguredCredentialIsSentInsteadOfTheClients() throws {
        let endpoint = E.endpoint("/x", headers: [("x-api-key", "upstream-secret")], forwardHeaders: true)
        #expect(
            try Self.upstream([("x-api-key", Self.master)], endpoint: endpoint, masterKey: Self.master)
                == ["x-api-key: upstream-secret"])
    }

    @Test func publicEndpointsForwardCredentialsButNeverTheMasterKey() throws {
        let endpoint = E.endpoint("/x", forwardHeaders: true, auth: false)
        let client = [
            ("x-api-key", "client-own-key"), ("authorization", "Bearer " + Self.master), ("x-note", "prefix" + Self.master + "suffix"),
            ("x-pass-anthropic-beta", Self.master), ("content-type", Self.master), ("x-ok", "1"),
        ]
        #expect(try Self.upstream(client, endpoint: endpoint, masterKey: Self.master) == ["x-api-key: client-own-key", "x-ok: 1"])
    }

    @Test func masterKeyValuesAreDroppedEvenWhereNothingElseWouldBe() throws {
        let endpoint = E.endpoint("/x")
        #expect(try Self.upstream([("content-type", "a/" + Self.master)], endpoint: endpoint, masterKey: Self.master, body: "x").isEmpty)
        #expect(try Self.upstream([("x-pass-x-note", Self.master)], endpoint: endpoint, masterKey: Self.master).isEmpty)
    }

    @Test func masterKeyFollowedByACombiningMarkIsStillFound() throws {
        // Regression: a grapheme-aware `contains` misses "sk-…master" + U+0301.
        let endpoint = E.endpoint("/x", forwardHeaders: true, auth: false)
        #expect(try Self.upstream([("x-note", Self.master + "\u{301}")], endpoint: endpoint, masterKey: Self.master).isEmpty)
        #expect(HeaderPolicy.containsBytes("abc", "abc"))
        #expect(HeaderPolicy.containsBytes("xxabcx", "abc"))
        #expect(!HeaderPolicy.containsBytes("ab", "abc"))
        #expect(!HeaderPolicy.containsBytes("abxc", "abc"))
    }

    @Test func withoutAMasterKeyCredentialsAreOrdinaryHeaders() throws {
        let client = [("authorization", "Bearer upstream"), ("x-api-key", "k")]
        #expect(try Self.upstream(client, endpoint: Self.forwarding) == ["authorization: Bearer upstream", "x-api-key: k"])
    }

    // MARK: unsafe values

    @Test(arguments: ["a\rb", "a\nb", "a\r\nX-Injected: 1", "a\u{0}b"])
    func crLfOrNulInAnyClientValueIsA400(value: String) throws {
        for endpoint in [Self.forwarding, E.endpoint("/x")] {
            for name in ["x-forwarded", "user-agent", "connection"] {
                let error = #expect(throws: GatewayError.self) { try Self.upstream([(name, value)], endpoint: endpoint) }
                #expect(error?.status == 400)
                #expect(error?.message.contains("Injected") == false)
            }
        }
    }

    @Test func tabsAndNonASCIIValuesAreFine() throws {
        #expect(try Self.upstream([("x-a", "a\tb é")], endpoint: Self.forwarding) == ["x-a: a\tb é"])
    }

    @Test(arguments: ["x a", "x:a", "", "x\u{E9}"])
    func forwardedNamesMustBeTokens(name: String) throws {
        let error = #expect(throws: GatewayError.self) { try Self.upstream([(name, "v")], endpoint: Self.forwarding) }
        #expect(error?.status == 400)
        // Not forwarded, not checked.
        #expect(try Self.upstream([(name, "v")], endpoint: E.endpoint("/x")).isEmpty)
    }
}

@Suite struct ClientKeyForwardingTests {
    @Test func aHeaderCarryingAClientKeyNeverLeavesEvenOnAPublicEndpoint() throws {
        let key = "sk-client-CANARY-42"
        let policy = HeaderPolicy(
            masterKey: "sk-master", keyHeaderName: nil,
            keys: KeyTable([VirtualKey(alias: "c", digest: KeyDigest(of: key))]))
        let endpoint = TestSupport.endpoint("/x", forwardHeaders: true, auth: false)
        let client = [
            ("authorization", "Bearer " + key), ("x-custom", key), ("x-pass-x-token", " \(key) "), ("x-other", key + "-not"),
        ]
        let headers = try policy.upstreamHeaders(for: TestSupport.request("/x", headers: client), endpoint: endpoint)
        #expect(TestSupport.pairs(headers) == ["x-other: \(key)-not"])
    }
}
