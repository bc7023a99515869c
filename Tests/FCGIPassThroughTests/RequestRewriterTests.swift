import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct RequestRewriterTests {
    typealias E = TestSupport

    static func rewrite(
        _ request: GatewayRequest, _ endpoint: Endpoint, subpath: String? = nil, config: GatewayConfig = GatewayConfig()
    ) throws -> UpstreamRequest {
        try RequestRewriter(config: config).rewrite(request, endpoint: endpoint, subpath: subpath)
    }

    @Test func methodBodyAndTimeoutPassThrough() throws {
        let body = Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x20, 0x31, 0x7D, 0x00, 0xFF, 0x0D, 0x0A])
        let request = GatewayRequest(method: "PATCH", requestURI: "/x", body: body)
        let upstream = try Self.rewrite(request, E.endpoint("/x"), config: GatewayConfig(defaultTimeout: 42))
        #expect(upstream.method == "PATCH")
        #expect(upstream.body == body)
        #expect(upstream.timeout == 42)
        #expect(try Self.rewrite(request, E.endpoint("/x", timeout: 7)).timeout == 7)
        #expect(try Self.rewrite(GatewayRequest(method: "GET", requestURI: "/x"), E.endpoint("/x")).body.isEmpty)
    }

    @Test(
        arguments: [
            // (target, request URI, subpath, merge, expected URL)
            ("https://api.cohere.com/v1/rerank", "/v1/rerank", nil, false, "https://api.cohere.com/v1/rerank"),
            ("https://www.bing.com/search?setLang=en-US", "/bing?q=litellm", nil, false, "https://www.bing.com/search?q=litellm"),
            ("https://www.bing.com/search?setLang=en-US", "/bing", nil, false, "https://www.bing.com/search?setLang=en-US"),
            ("https://www.bing.com/search?setLang=en-US", "/bing?", nil, false, "https://www.bing.com/search?setLang=en-US"),
            (
                "https://www.bing.com/search?setLang=en-US&mkt=en-US", "/bing?q=litellm", nil, true,
                "https://www.bing.com/search?setLang=en-US&mkt=en-US&q=litellm"
            ),
            (
                "https://g.test/v1beta/models", "/gemini/m:streamGenerateContent?alt=sse", "m:streamGenerateContent", false,
                "https://g.test/v1beta/models/m:streamGenerateContent?alt=sse"
            ),
            ("https://h.test", "/r/a%20b/?x=a b", "a%20b/", false, "https://h.test/a%20b/?x=a%20b"),
            ("https://h.test/p?k=1", "/r/", "", true, "https://h.test/p/?k=1"),
        ] as [(String, String, String?, Bool, String)])
    func urls(target: String, uri: String, subpath: String?, merge: Bool, expected: String) throws {
        let endpoint = E.endpoint("/r", target: target, includeSubpath: subpath != nil, mergeQueryParams: merge)
        #expect(try Self.rewrite(E.request(uri), endpoint, subpath: subpath).url == expected)
    }

    @Test func defaultQueryParamsMergeWithoutTheFlag() throws {
        let endpoint = E.endpoint(
            "/r", target: "https://az.test/openai?deployment=d",
            defaultQueryParams: [(name: "api-version", value: "2024-01-01")])
        #expect(
            try Self.rewrite(E.request("/r?limit=5"), endpoint).url
                == "https://az.test/openai?api-version=2024-01-01&deployment=d&limit=5")
        #expect(
            try Self.rewrite(E.request("/r?api-version=2025"), endpoint).url
                == "https://az.test/openai?deployment=d&api-version=2025")
    }

    @Test func unsafeQueryOrHeaderFailsTheWholeRewrite() {
        let endpoint = E.endpoint("/r")
        #expect(throws: GatewayError.self) { try Self.rewrite(E.request("/r?a=%zz"), endpoint) }
        #expect(throws: GatewayError.self) { try Self.rewrite(E.request("/r?a#b"), endpoint) }
        #expect(throws: GatewayError.self) { try Self.rewrite(E.request("/r", headers: [("x", "a\nb")]), endpoint) }
    }

    @Test func headersFollowTheEndpointAndTheMasterKey() throws {
        let config = GatewayConfig(masterKey: "sk-master", keyHeaderName: nil)
        let endpoint = E.endpoint("/r", headers: [("Authorization", "bearer co-key")], forwardHeaders: true)
        let request = E.request(
            "/r", headers: [("authorization", "Bearer sk-master"), ("x-api-key", "sk-master"), ("accept", "*/*")],
            body: "{}")
        let upstream = try Self.rewrite(request, endpoint, config: config)
        #expect(E.pairs(upstream.headers) == ["Authorization: bearer co-key", "accept: */*"])
    }

    /// The whole request path: route, authenticate, rewrite, with one config.
    @Test func routeAuthRewriteAgree() throws {
        let endpoint = E.endpoint(
            "/v1/files", target: "https://fakeup/api/files?v=1", headers: [("x-api-key", "upstream")],
            includeSubpath: true, mergeQueryParams: true)
        let config = GatewayConfig(masterKey: "sk-master", endpoints: [endpoint])
        let request = E.request(
            "/v1/files/a%20b/?v=2&x=1", headers: [("x-litellm-api-key", "Bearer sk-master"), ("content-type", "application/json")],
            body: "{}")
        let path = try RequestPath(raw: request.rawPath)
        guard case .endpoint(let matched, let subpath) = Router(endpoints: config.endpoints).match(path, method: request.method)
        else { Issue.record("no match"); return }
        #expect(Authenticator(config: config).refusal(request.headers, for: matched) == nil)
        let upstream = try RequestRewriter(config: config).rewrite(request, endpoint: matched, subpath: subpath)
        #expect(upstream.url == "https://fakeup/api/files/a%20b/?v=2&x=1")
        #expect(E.pairs(upstream.headers) == ["x-api-key: upstream", "content-type: application/json"])
    }
}
