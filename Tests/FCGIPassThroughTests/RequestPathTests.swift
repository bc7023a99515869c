import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct RequestPathTests {
    @Test(arguments: [
        ("/", "/"),
        ("/v1/rerank", "/v1/rerank"),
        ("/v1/rerank/", "/v1/rerank/"),
        ("/a%20b", "/a b"),
        ("/a b", "/a b"),
        ("/caf%C3%A9/x", "/café/x"),
        ("/v1/%72erank", "/v1/rerank"),
        ("/a%2Eb", "/a.b"),
        ("/.../.hidden/a.", "/.../.hidden/a."),
        ("/%7Bid%7D/{raw}", "/{id}/{raw}"),
        ("/a;b=c/d:e@f", "/a;b=c/d:e@f"),
        ("/a%3Fb%23c", "/a?b#c"),
        ("/v1/100%25", "/v1/100%"),
        ("/v1/%2541", "/v1/%41"),
        ("/x/~user/[1]", "/x/~user/[1]"),
    ])
    func acceptsAndDecodes(raw: String, decoded: String) throws {
        let path = try RequestPath(raw: raw[...])
        #expect(path.raw == raw)
        #expect(path.decoded == decoded)
    }

    @Test func segmentsMapOneToOne() throws {
        let path = try RequestPath(raw: "/v1/a%20b/")
        #expect(path.rawSegments == ["v1", "a%20b", ""])
        #expect(path.decodedSegments == ["v1", "a b", ""])
        #expect(try RequestPath(raw: "/").rawSegments.isEmpty)
    }

    @Test(arguments: [
        // Not an origin-form path.
        "", "v1/rerank", "*", "http://sink/v1", "?x",
        // Empty segments.
        "//", "//v1", "/v1//rerank", "/v1/rerank//", "/v1///",
        // Dot segments, raw and encoded in any case mix.
        "/.", "/..", "/v1/.", "/v1/..", "/v1/./x", "/v1/../x", "/v1/files/../../admin",
        "/v1/%2e", "/v1/%2E", "/v1/%2e%2e/x", "/v1/%2E%2E", "/v1/%2e%2E", "/v1/%2E%2e/x",
        "/v1/.%2e", "/v1/%2e.", "/v1/.%2E/admin",
        // Dots before `;params` (servlet containers strip them), raw or encoded `;`.
        "/v1/..;/admin", "/v1/.;x", "/v1/%2e%2e;x", "/v1/..%3bx", "/v1/;/..",
        // Encoded separators.
        "/v1/a%2Fb", "/v1/a%2fb", "/v1/..%2fadmin", "/v1/%2F", "/v1/a%5Cb", "/v1/a%5cb",
        // Raw backslash.
        "/v1/a\\b", "/v1/..\\admin",
        // Double encoding that a second decode turns into traversal.
        "/v1/%252e%252e/x", "/v1/%252e%252e%252fadmin", "/v1/%252F", "/v1/%255C", "/v1/%25252e%25252e",
        // Malformed escapes.
        "/v1/%zz", "/v1/%", "/v1/a%", "/v1/%2", "/v1/%2g", "/v1/%%41",
        // Controls, raw or encoded; NUL.
        "/v1/%00", "/v1/a%00b", "/v1/%0d%0aX-Injected:%201", "/v1/%0A", "/v1/%7F", "/v1/%09",
        "/v1/\u{01}", "/v1/a\tb", "/v1/\u{7F}", "/v1/a\rb", "/v1/a\nb",
        // Raw non-ASCII, fragment, query marker; escapes that are not UTF-8.
        "/v1/é", "/v1/a#b", "/v1/#", "/v1/a?b", "/v1/%ff", "/v1/%C3",
    ])
    func rejects(raw: String) {
        #expect(throws: GatewayError.self) { try RequestPath(raw: raw[...]) }
    }

    @Test func rejectionIsA400ThatDoesNotEchoThePath() {
        let raw = "/v1/secret-%2e%2e-token/%2e%2e"
        do {
            _ = try RequestPath(raw: raw[...])
            Issue.record("accepted \(raw)")
        } catch {
            #expect(error.status == 400)
            #expect(error.type == "invalid_request_error")
            #expect(!error.message.contains("secret"))
            #expect(!error.message.contains("%2e"))
        }
    }
}
