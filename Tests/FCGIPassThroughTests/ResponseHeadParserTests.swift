import CCurl
import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct ResponseHeadParserTests {
    /// Feeds header lines as libcurl would and returns the heads reported.
    func heads(_ lines: [String]) throws -> [ResponseHeadParser.Event] {
        var parser = ResponseHeadParser()
        var events: [ResponseHeadParser.Event] = []
        for line in lines {
            let event = try Array(line.utf8).withUnsafeBytes { try parser.feed($0) }
            if event != .none { events.append(event) }
        }
        return events
    }

    @Test func finalHeadKeepsEveryFieldInOrder() throws {
        let events = try heads([
            "HTTP/1.1 201 Created\r\n", "Set-Cookie: a=1\r\n", "Set-Cookie: b=2\r\n", "X-Empty:\r\n",
            "X-Pad: \t padded \t\r\n", "\r\n",
        ])
        #expect(
            events == [
                .head(
                    status: 201,
                    headers: HTTPHeaders([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Empty", ""), ("X-Pad", "padded")]))
            ])
    }

    @Test func interimHeadsAndTrailersAreDropped() throws {
        let events = try heads([
            "HTTP/1.1 103 Early Hints\r\n", "Link: </a>\r\n", "\r\n", "HTTP/1.1 200 OK\r\n", "A: 1\r\n", "\r\n",
            "X-Trailer: after the body\r\n", "\r\n",
        ])
        #expect(events == [.head(status: 200, headers: HTTPHeaders([("A", "1")]))])
    }

    @Test func http2StatusLineParses() throws {
        #expect(try heads(["HTTP/2 204\r\n", "\r\n"]) == [.head(status: 204, headers: HTTPHeaders())])
    }

    @Test(arguments: ["HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000\r\n", "ICY 200 OK\r\n", "HTTP/1.1 abc\r\n", "HTTP/1.1 099\r\n"])
    func malformedStatusLinesAreRefused(line: String) {
        #expect(throws: ResponseHeadParser.Failure.malformedStatusLine) { try heads([line]) }
    }

    @Test(arguments: [" folded: value\r\n", "No colon here\r\n", ": no name\r\n", "Bad Name: x\r\n"])
    func malformedFieldsAreRefused(line: String) {
        #expect(throws: ResponseHeadParser.Failure.malformedField) { try heads(["HTTP/1.1 200 OK\r\n", line]) }
    }

    @Test func nonUTF8ValuesAreRefused() {
        var parser = ResponseHeadParser()
        #expect(throws: ResponseHeadParser.Failure.notUTF8) {
            _ = try Array("HTTP/1.1 200 OK\r\n".utf8).withUnsafeBytes { try parser.feed($0) }
            _ = try ([UInt8]("X: ".utf8) + [0xFF, 0x0D, 0x0A]).withUnsafeBytes { try parser.feed($0) }
        }
    }

    @Test func anOversizedHeadIsRefused() {
        let filler = "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"
        #expect(throws: ResponseHeadParser.Failure.tooLarge) {
            try heads(["HTTP/1.1 200 OK\r\n"] + Array(repeating: filler, count: 70))
        }
    }
}
