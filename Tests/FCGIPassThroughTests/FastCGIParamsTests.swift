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

    @Test func contentTypeParamIsUsedWhenNoHeaderParamCarriesIt() {
        let request = FastCGIParams(pairs: [("CONTENT_TYPE", "text/plain"), ("CONTENT_LENGTH", "")]).gatewayRequest()
        #expect(request.headers["content-type"] == "text/plain")
        #expect(FastCGIParams(pairs: [("CONTENT_LENGTH", "")]).contentLength == nil)
    }

    /// The byte split and the `Character` search agree; where `=` joins a neighbour into
    /// one grapheme, the search (which skips that `=`) decides.
    @Test func paramsSplitAtTheFirstEqualsSignCharacter() {
        func split(_ text: String) -> (String, String)? {
            var bytes = Array(text.utf8)
            return bytes.withUnsafeMutableBytes { FastCGIParams.split(UnsafeRawBufferPointer($0)) }
        }
        for text in ["A=b", "A=", "=b", "HTTP_X=a=b", "HTTP_X=\u{e9}t\u{e9}", "\u{e9}=x", "A=\u{301}b=c", "\u{600}=b=c", "AB"] {
            let expected = text.firstIndex(of: "=").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) }
            let got = split(text)
            #expect(got?.0 == expected?.0 && got?.1 == expected?.1, "\(text)")
        }
    }
}
