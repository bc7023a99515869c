import Foundation
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
        #expect(h.count(of: "AUTHORIZATION") == 2)
        #expect(h.count(of: "x-none") == 0)
        h.set("X-FOO", "2")
        #expect(h.values("x-foo") == ["2"])
        #expect(!"x-fop".caseInsensitiveEquals("X-FOO"))
        #expect(!"[".caseInsensitiveEquals("{"))
    }

    @Test func asciiLowercasingTouchesOnlyASCIILetters() {
        #expect("Content-Type".asciiLowercased == "content-type")
        #expect("x-already-lower".asciiLowercased == "x-already-lower")
        #expect("X-@[`{ÄÖ".asciiLowercased == "x-@[`{ÄÖ")
        #expect("".asciiLowercased == "")
    }

    @Test func configuredHeaderNamesFollowTheHeaders() throws {
        var endpoint = Endpoint(
            path: "/a", target: try #require(TargetURL(parsing: "http://up/a")), headers: HTTPHeaders([("X-Api-Key", "k")]))
        #expect(endpoint.headerNames == ["x-api-key"])
        endpoint.headers.append("Authorization", "Bearer t")
        #expect(endpoint.headerNames == ["x-api-key", "authorization"])
    }

    @Test(arguments: [
        ("", ""), ("plain ascii name", "plain ascii name"), ("exactly8", "exactly8"), ("héllo wörld, ünïcode", "héllo wörld, ünïcode"),
        ("seven77", "seven77"), ("0123456789abcdef\u{7F}", "0123456789abcdef\u{7F}"),
    ])
    func utf8TextKeepsValidText(text: String, expected: String) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBufferPointer { UTF8Text.string($0) } == expected)
        #expect(bytes.withUnsafeBufferPointer { UTF8Text.isASCII($0) } == text.utf8.allSatisfy { $0 < 0x80 })
    }

    @Test func utf8TextRefusesInvalidBytes() {
        for bytes: [UInt8] in [[0xFF], [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0xC3], [0xED, 0xA0, 0x80], [0xC0, 0xAF]] {
            #expect(bytes.withUnsafeBufferPointer { UTF8Text.string($0) } == nil)
            #expect(!bytes.withUnsafeBufferPointer { UTF8Text.isASCII($0) })
        }
        // A high byte in the word-at-a-time part, not only in the tail.
        let early: [UInt8] = [0x80] + Array("abcdefghij".utf8)
        #expect(!early.withUnsafeBufferPointer { UTF8Text.isASCII($0) })
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

    @Test func aMediaTypeIsMatchedWithoutCaseAndBeforeItsParameters() {
        let eventStream: [(String, Bool)] = [
            ("text/event-stream", true), (" Text/Event-Stream; charset=utf-8", true), ("\ttext/event-stream ", true),
            ("text/event-stream;x=1", true), ("text/event-stream-x", false), ("text/event-strea", false), ("", false),
            ("application/json", false), ("xtext/event-stream", false),
        ]
        for (value, expected) in eventStream { #expect(HTTPSyntax.isMediaType(value, "text/event-stream") == expected, "\(value)") }
        // A string bridged from elsewhere (no contiguous UTF-8 of its own) reads alike.
        let bridged = String(NSString(string: "TEXT/EVENT-STREAM; charset=utf-8"))
        #expect(HTTPSyntax.isMediaType(bridged, "text/event-stream"))
    }

    @Test func tokenCharactersAreRFC9110s() {
        let tchars = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max { #expect(HTTPSyntax.isTokenCharacter(byte) == tchars.contains(byte), "\(byte)") }
    }
}
