import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndKeepsDuplicates() {
        var h = HTTPHeaders([("Authorization", "a"), ("x-Foo", "1"), ("authorization", "b")])
        #expect(h["AUTHORIZATION"] == "a")
        #expect(h.values("authorization") == ["a", "b"])
        h.set("X-FOO", "2")
        #expect(h.values("x-foo") == ["2"])
        #expect(!"x-fop".caseInsensitiveEquals("X-FOO"))
        #expect(!"[".caseInsensitiveEquals("{"))
    }

    @Test func targetURLParsing() {
        let t = TargetURL(parsing: "HTTPS://api.cohere.com/v1/rerank?x=1")
        #expect(t == TargetURL(scheme: "https", authority: "api.cohere.com", path: "/v1/rerank", query: "x=1"))
        #expect(TargetURL(parsing: "ftp://x/y") == nil)
        #expect(TargetURL(parsing: "/relative") == nil)
        #expect(TargetURL(parsing: "http://user@host/") == nil)
        #expect(TargetURL(parsing: "http://host/a b") == nil)
        #expect(TargetURL(parsing: "http://host")?.path == "")
    }

    /// Regression: `http://::1/x` loaded, and only failed at the first request (CFG-04).
    @Test(arguments: [
        "http://::1/x", "http://host:port/x", "http://host:/x", "http://host:99999/x", "http://[::1/x", "http://[::1]x/y",
        "http://[zz]/x", "http://a\\b/x", "http://%/x:1:2",
    ])
    func malformedAuthoritiesAreRefused(target: String) {
        #expect(TargetURL(parsing: target) == nil)
    }

    @Test(arguments: ["http://[::1]:8443/x", "https://example.com./x", "http://127.0.0.1:1/x", "https://a-b.example_c~d/x"])
    func wellFormedAuthoritiesAreAccepted(target: String) {
        #expect(TargetURL(parsing: target) != nil)
    }
}
