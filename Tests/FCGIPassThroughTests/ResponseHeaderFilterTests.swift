import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct ResponseHeaderFilterTests {
    @Test func dropsHopByHopAndNginxSteeringHeaders() throws {
        let upstream = HTTPHeaders([
            ("Connection", "keep-alive, X-Secret-Hop"), ("X-Secret-Hop", "1"), ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"), ("Server", "u"), ("Date", "d"), ("Status", "500"),
            ("X-Accel-Redirect", "/internal"), ("x-accel-limit-rate", "1"), ("Upgrade", "h2c"),
            ("Content-Type", "application/json"), ("Content-Length", "10"), ("Set-Cookie", "a=b"),
        ])
        let result = try ResponseHeaderFilter.filter(upstream, requestID: "id")
        #expect(
            TestSupport.pairs(result.headers) == [
                "Content-Type: application/json", "Content-Length: 10", "Set-Cookie: a=b", "x-litellm-call-id: id",
            ])
        #expect(!result.streaming)
    }

    @Test func decodedBodiesLoseTheirEncodingAndLengthAndStream() throws {
        let result = try ResponseHeaderFilter.filter(
            HTTPHeaders([("Content-Encoding", "gzip"), ("Content-Length", "31")]), requestID: "id", decoded: true)
        #expect(result.headers["Content-Encoding"] == nil)
        #expect(result.headers["Content-Length"] == nil)
        #expect(result.streaming)
        #expect(result.headers["X-Accel-Buffering"] == "no")
    }

    @Test func bodiesPassedOnAsReceivedKeepTheirEncodingAndLength() throws {
        let result = try ResponseHeaderFilter.filter(
            HTTPHeaders([("Content-Encoding", "gzip"), ("Content-Length", "31")]), requestID: "id", decoded: false)
        #expect(result.headers["Content-Encoding"] == "gzip")
        #expect(result.headers["Content-Length"] == "31")
        #expect(!result.streaming)
    }

    @Test func repeatedLengthFieldsMustAgree() throws {
        #expect(throws: ResponseHeaderFilter.Failure.invalidContentLength) {
            try ResponseHeaderFilter.filter(HTTPHeaders([("Content-Length", "2"), ("Content-Length", "40")]), requestID: "id")
        }
        let same = try ResponseHeaderFilter.filter(HTTPHeaders([("Content-Length", "7"), ("content-length", "7")]), requestID: "id")
        #expect(same.headers.values("content-length") == ["7"])
    }

    @Test(arguments: [
        ("0", true), ("1234", true), ("7, 7", true), ("7,7,\t7 ", true), ("", false), (" ", false), ("7,", false),
        (",7", false), ("7, 8", false), ("-1", false), ("+1", false), ("1e3", false), ("0x10", false), ("1 2", false),
        ("\u{0663}", false),
    ])
    func contentLengthIsDigitsOrAgreeingList(value: String, valid: Bool) {
        #expect(ResponseHeaderFilter.isValidContentLength(value) == valid)
    }

    @Test func eventStreamsStreamEvenWithALength() throws {
        let result = try ResponseHeaderFilter.filter(
            HTTPHeaders([("Content-Type", "Text/Event-Stream;charset=utf-8"), ("Content-Length", "5")]), requestID: "id")
        #expect(result.streaming)
    }

    @Test func upstreamCallIDIsReplaced() throws {
        let result = try ResponseHeaderFilter.filter(HTTPHeaders([("x-litellm-call-id", "spoofed")]), requestID: "ours")
        #expect(result.headers.values("x-litellm-call-id") == ["ours"])
    }

    @Test func invalidFieldsAreDropped() throws {
        let result = try ResponseHeaderFilter.filter(
            HTTPHeaders([("X-Ok", "a\tb"), ("X-Bad", "a\u{1}b"), ("Bad Name", "x")]), requestID: "id")
        #expect(result.headers["X-Ok"] == "a\tb")
        #expect(result.headers["X-Bad"] == nil)
        #expect(result.headers.count == 2 + 1)  // X-Ok, call id, X-Accel-Buffering
    }

    /// Regression: `Trailers` (an RFC 2616 typo, not a hop-by-hop field) was dropped.
    @Test func trailersFieldIsRelayed() throws {
        let result = try ResponseHeaderFilter.filter(HTTPHeaders([("Trailers", "not-special"), ("Trailer", "X-T")]), requestID: "id")
        #expect(result.headers["Trailers"] == "not-special")
        #expect(result.headers["Trailer"] == nil)
    }

    /// Regression: a single header line of any length reached nginx (HDR-02).
    @Test func oneOverlongFieldLineIsRefused() {
        let long = HTTPHeaders([("X-Long", String(repeating: "v", count: ResponseHeaderFilter.maxFieldBytes))])
        #expect(throws: ResponseHeaderFilter.Failure.tooLarge) { try ResponseHeaderFilter.filter(long, requestID: "id") }
    }

    /// Regression: two different Content-Length values were relayed as one (RFC 9112 §6.3).
    @Test func conflictingContentLengthsAreRefused() throws {
        #expect(throws: ResponseHeaderFilter.Failure.invalidContentLength) {
            try ResponseHeaderFilter.filter(HTTPHeaders([("Content-Length", "2, 40")]), requestID: "id")
        }
        #expect(throws: ResponseHeaderFilter.Failure.invalidContentLength) {
            try ResponseHeaderFilter.filter(HTTPHeaders([("Content-Length", "+4")]), requestID: "id")
        }
        let same = try ResponseHeaderFilter.filter(HTTPHeaders([("Content-Length", "7, 7")]), requestID: "id")
        #expect(same.headers["Content-Length"] == "7, 7")
    }

    @Test func tooManyFieldsIsRefused() {
        let many = HTTPHeaders((0..<101).map { ("X-H\($0)", "v") })
        #expect(throws: ResponseHeaderFilter.Failure.self) { try ResponseHeaderFilter.filter(many, requestID: "id") }
    }
}
