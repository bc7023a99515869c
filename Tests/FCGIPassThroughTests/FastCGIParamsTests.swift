import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct FastCGIParamsTests {
    @Test func headersComeFromHTTPParamsWithDuplicatesAndOneContentType() {
        let params = FastCGIParams(pairs: [
            ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/v1/x?a=1"), ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", "2"), ("HTTP_CONTENT_TYPE", "application/json"), ("HTTP_CONTENT_LENGTH", "2"),
            ("HTTP_X_PASS_ANTHROPIC_BETA", "b1"), ("HTTP_AUTHORIZATION", "Bearer a"), ("HTTP_AUTHORIZATION", "Bearer b"),
            ("HTTP_PROXY", ""), ("REQUEST_ID", "abc"), ("REMOTE_ADDR", "127.0.0.1"),
        ])
        let request = params.gatewayRequest()
        #expect(request.method == "POST")
        #expect(request.rawPath == "/v1/x")
        #expect(request.rawQuery == "a=1")
        #expect(request.requestID == "abc")
        #expect(
            TestSupport.pairs(request.headers) == [
                "content-type: application/json", "x-pass-anthropic-beta: b1", "authorization: Bearer a", "authorization: Bearer b",
            ])
        #expect(params.contentLength == 2)
    }

    @Test func pathAndQuerySplitAtTheFirstQuestionMarkByte() {
        func request(_ uri: String) -> GatewayRequest { GatewayRequest(method: "GET", requestURI: uri) }
        #expect(request("/a?b=1?c").rawPath == "/a")
        #expect(request("/a?b=1?c").rawQuery == "b=1?c")
        #expect(request("/a").rawQuery == nil)
        #expect(request("/a?").rawQuery == "")
        // A combining mark after `?` makes one Character of the two; the path still ends there.
        #expect(request("/a?\u{0301}x=1").rawPath == "/a")
        #expect(request("/a?\u{0301}x=1").rawQuery == "\u{0301}x=1")
    }

    @Test func headerNamesAreLowerCasedWithDashes() {
        #expect(FastCGIParams.headerName(fromParam: "HTTP_X_PASS_ANTHROPIC_BETA") == "x-pass-anthropic-beta")
        #expect(FastCGIParams.headerName(fromParam: "HTTP_AUTHORIZATION") == "authorization")
        #expect(FastCGIParams.headerName(fromParam: "HTTP_X_A9_Z") == "x-a9-z")
        #expect(FastCGIParams.headerName(fromParam: "HTTP_X_\u{00C4}") == "x-\u{00C4}")
        #expect(FastCGIParams.headerName(fromParam: "HTTP_") == "")
    }

    @Test func contentTypeParamIsUsedWhenNoHeaderParamCarriesIt() {
        let request = FastCGIParams(pairs: [("CONTENT_TYPE", "text/plain"), ("CONTENT_LENGTH", "")]).gatewayRequest()
        #expect(request.headers["content-type"] == "text/plain")
        #expect(FastCGIParams(pairs: [("CONTENT_LENGTH", "")]).contentLength == nil)
    }

    /// Regression: a header value starting with a combining mark joined the separating
    /// `=` into one grapheme, and a `Character` search then split at a later `=`, taking
    /// part of the value for the name (`X-Foo: ́a=b` arrived as header `x-foo=́a`).
    @Test(arguments: [
        ("A=b", "A", "b"), ("A=", "A", ""), ("=b", "", "b"), ("HTTP_X=a=b", "HTTP_X", "a=b"),
        ("HTTP_X=\u{e9}t\u{e9}", "HTTP_X", "\u{e9}t\u{e9}"), ("HTTP_X_FOO=\u{301}a=b", "HTTP_X_FOO", "\u{301}a=b"),
    ])
    func paramsSplitAtTheFirstEqualsByte(text: String, name: String, value: String) {
        var bytes = Array(text.utf8)
        let pair = bytes.withUnsafeMutableBytes { FastCGIParams.split(UnsafeRawBufferPointer($0)) }
        #expect(pair?.0 == name && pair?.1 == value)
        var none = Array("AB".utf8)
        #expect(none.withUnsafeMutableBytes { FastCGIParams.split(UnsafeRawBufferPointer($0)) } == nil)
    }
}
