import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// LiteLLM's `test_construct_target_url_with_subpath` table (LiteLLM's own test suite), adapted:
/// our subpath never has a leading slash (`//` is refused), stays raw, and an empty
/// subpath (request `/route/`) keeps its trailing slash instead of vanishing.
@Suite struct URLJoiningTests {
    static func join(_ target: String, _ subpath: String?) -> String {
        let url = TestSupport.target(target)
        return url.origin + url.path(appending: subpath)
    }

    @Test(
        arguments: [
            // LiteLLM rows.
            ("http://example.com", nil, "http://example.com"),
            ("http://example.com", "", "http://example.com/"),
            ("http://example.com", "api/v1", "http://example.com/api/v1"),
            ("http://example.com/", "api/v1", "http://example.com/api/v1"),
            // Target paths, with and without their own trailing slash.
            ("https://api.cohere.com/v1/rerank", nil, "https://api.cohere.com/v1/rerank"),
            ("https://api.cohere.com/v1/rerank", "x", "https://api.cohere.com/v1/rerank/x"),
            ("https://api.cohere.com/v1/rerank", "x/", "https://api.cohere.com/v1/rerank/x/"),
            ("https://api.cohere.com/v1/rerank", "", "https://api.cohere.com/v1/rerank/"),
            ("https://api.cohere.com/v1/", "", "https://api.cohere.com/v1/"),
            ("https://api.cohere.com/v1/", "a/b", "https://api.cohere.com/v1/a/b"),
            ("https://api.cohere.com/v1/", nil, "https://api.cohere.com/v1/"),
            ("https://h:8443/p", "q", "https://h:8443/p/q"),
            ("http://[::1]:9000", "q", "http://[::1]:9000/q"),
            // The client's encoding is kept byte for byte.
            ("https://h/base", "a%20b/%E2%82%AC/x%2Dy", "https://h/base/a%20b/%E2%82%AC/x%2Dy"),
            ("https://h/base", "v1:generate;alt=sse", "https://h/base/v1:generate;alt=sse"),
            // Bytes never valid raw in a path are escaped; nothing else is touched.
            ("https://h/base", "{id}|x y^`\"<>", "https://h/base/%7Bid%7D%7Cx%20y%5E%60%22%3C%3E"),
            // A subpath can never turn into an authority (PATH-04).
            ("https://fakeup", "@sink", "https://fakeup/@sink"),
            ("https://fakeup", ":8080@sink/x", "https://fakeup/:8080@sink/x"),
            ("https://fakeup", "%40sink", "https://fakeup/%40sink"),
        ] as [(String, String?, String)])
    func joins(target: String, subpath: String?, expected: String) {
        #expect(Self.join(target, subpath) == expected)
    }

    /// End to end through `RequestPath` and `Router`: the forwarded path is the matched one.
    @Test(arguments: [
        ("/v1/files", "https://fakeup/api/files"),
        ("/v1/files/", "https://fakeup/api/files/"),
        ("/v1/files/a/b.json", "https://fakeup/api/files/a/b.json"),
        ("/v1/files/a%2Eb/%7E", "https://fakeup/api/files/a%2Eb/%7E"),
        ("/v1/files/@sink", "https://fakeup/api/files/@sink"),
    ])
    func routedRequestsStayUnderTheTargetPath(path: String, expected: String) throws {
        let endpoint = TestSupport.endpoint("/v1/files", target: "https://fakeup/api/files", includeSubpath: true)
        let router = Router(endpoints: [endpoint])
        guard case .endpoint(let matched, let subpath) = router.match(try RequestPath(raw: path[...]), method: "GET")
        else { Issue.record("no match for \(path)"); return }
        let upstream = try RequestRewriter(config: GatewayConfig(endpoints: [endpoint]))
            .rewrite(TestSupport.request(path, method: "GET"), endpoint: matched, subpath: subpath)
        #expect(upstream.url == expected)
    }
}
