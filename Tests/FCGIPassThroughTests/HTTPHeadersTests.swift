import Testing

@testable import FCGIPassThrough

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
}
