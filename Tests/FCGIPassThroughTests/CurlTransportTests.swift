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

@Suite struct CurlFailureTests {
    @Test func resultCodesMapToTheClientFacingCauses() {
        #expect(UpstreamFailure(curlCode: CURLE_COULDNT_RESOLVE_HOST) == .unreachable(.dns))
        #expect(UpstreamFailure(curlCode: CURLE_COULDNT_CONNECT) == .unreachable(.connect))
        #expect(UpstreamFailure(curlCode: CURLE_PEER_FAILED_VERIFICATION) == .unreachable(.tls))
        #expect(UpstreamFailure(curlCode: CURLE_RECV_ERROR) == .unreachable(.reset))
        #expect(UpstreamFailure(curlCode: CURLE_SEND_FAIL_REWIND) == .unreachable(.reset))
        #expect(UpstreamFailure(curlCode: CURLE_WEIRD_SERVER_REPLY) == .unreachable(.protocol))
        #expect(UpstreamFailure(curlCode: CURLE_OPERATION_TIMEDOUT) == .timedOut)
        #expect(UpstreamFailure(curlCode: CURLE_ABORTED_BY_CALLBACK) == .cancelled)
        #expect(UpstreamFailure(curlCode: CURLE_OUT_OF_MEMORY) == .unreachable(.other))
    }
}

@Suite struct PausingChannelTests {
    @Test func aFullChannelRefusesAnOfferUntilTheWorkerTakesWhatItHolds() {
        let channel = ResponseChannel(bufferLimit: 4)
        let resumed = Locked(0)
        channel.onRoom { resumed.withLock { $0 += 1 } }
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.offerBody(Data("abc".utf8)))
        #expect(!channel.offerBody(Data("de".utf8)))  // 5 > 4: refused, not dropped
        guard case .head = channel.next(timeout: .zero) else { Issue.record("head"); return }
        #expect(resumed.withLock { $0 } == 1)  // asking again is room
        guard case .body(let first) = channel.next(timeout: .zero) else { Issue.record("body"); return }
        #expect(first == Data("abc".utf8))
        #expect(!channel.offerBody(Data("de".utf8)))  // "abc" is still being written
        #expect(channel.next(timeout: .zero) == nil)
        #expect(resumed.withLock { $0 } == 2)
        #expect(channel.offerBody(Data("de".utf8)))
        channel.finish(nil)
        guard case .body(let second) = channel.next(timeout: .zero) else { Issue.record("second body"); return }
        #expect(second == Data("de".utf8))
        #expect(!channel.didOverflow)
    }

    @Test func aChunkLargerThanTheBoundIsTakenWhenNothingIsHeld() {
        let channel = ResponseChannel(bufferLimit: 2)
        #expect(channel.offerBody(Data("abcdef".utf8)))
    }
}

@Suite struct TransportSettingTests {
    @Test func transportAndCAFileAreRead() throws {
        let (config, notices) = try ConfigLoaderTests.load(
            "general_settings:\n  transport: curl\n  ssl_ca_file: /etc/hostname\n")
        #expect(config.transport == .curl && config.caFile == "/etc/hostname" && notices.isEmpty)
        #expect(config.transportProblem == nil)
        #expect(try ConfigLoaderTests.load("general_settings: {}\n").0.transport == .urlsession)
    }

    @Test func badValuesAreProblems() {
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: http2\n") == [
                "c.yaml:2: transport: must be urlsession or curl"
            ])
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: curl\n  ssl_ca_file: relative.pem\n") == [
                "c.yaml:3: ssl_ca_file: must be an absolute path"
            ])
        #expect(
            ConfigLoaderTests.problems("general_settings:\n  transport: curl\n  ssl_ca_file: /no/such/ca.pem\n") == [
                "c.yaml:3: ssl_ca_file: cannot be read (missing file or no permission)"
            ])
    }

    @Test func aCAFileNeedsTheCurlTransport() throws {
        let (config, _) = try ConfigLoaderTests.load("general_settings:\n  ssl_ca_file: /etc/hostname\n")
        #expect(config.transportProblem?.contains("transport: curl") == true)
    }

    @Test func theCommandLineChoosesATransport() throws {
        #expect(try CommandLineOptions.parse(["--transport", "curl"], environment: Environment()).transport == .curl)
        #expect(throws: CommandLineOptions.UsageError.self) {
            try CommandLineOptions.parse(["--transport=nghttp"], environment: Environment())
        }
    }
}
