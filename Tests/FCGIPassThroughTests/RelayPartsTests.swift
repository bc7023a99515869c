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

@Suite struct ResponseChannelTests {
    @Test func deliversHeadThenCoalescedBodyThenEnd() {
        let channel = ResponseChannel(bufferLimit: 100)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        channel.receiveBody(Data("ab".utf8))
        channel.receiveBody(Data("cd".utf8))
        channel.finish(nil)
        guard case .head(200, _) = channel.next(timeout: .zero) else { Issue.record("head"); return }
        guard case .body(let data) = channel.next(timeout: .zero) else { Issue.record("body"); return }
        #expect(data == Data("abcd".utf8))
        guard case .end(nil) = channel.next(timeout: .zero) else { Issue.record("end"); return }
    }

    @Test func boundRefusesMoreDataAndEndsAsCancelled() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.receiveBody(Data("abcd".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
        #expect(channel.didOverflow)
        _ = channel.next(timeout: .zero)
        _ = channel.next(timeout: .zero)
        guard case .end(.cancelled) = channel.next(timeout: .zero) else { Issue.record("end"); return }
    }

    /// Regression (cancel storm): every chunk after the bound asked for a cancel again, and
    /// each cancel waits for the session's work queue, so the transport's callbacks piled up.
    @Test func cancelIsRequestedOnceThenLaterDataIsDroppedCheaply() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        #expect(channel.receiveBody(Data("abcd".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
        #expect(channel.receiveBody(Data("f".utf8)))
        #expect(channel.didOverflow)
    }

    /// Regression: the chunk the worker was still writing to a stalled client did not count,
    /// so a request could hold twice its bound (STR-06).
    @Test func theBoundCountsTheChunkBeingWritten() {
        let channel = ResponseChannel(bufferLimit: 4)
        channel.receiveHead(status: 200, headers: HTTPHeaders())
        _ = channel.next(timeout: .zero)
        #expect(channel.receiveBody(Data("abc".utf8)))
        guard case .body = channel.next(timeout: .zero) else { Issue.record("body"); return }
        // "abc" is being written: only one more byte fits.
        #expect(channel.receiveBody(Data("d".utf8)))
        #expect(!channel.receiveBody(Data("e".utf8)))
    }

    @Test func waitsNoLongerThanTheTimeout() {
        let channel = ResponseChannel()
        let started = ContinuousClock.now
        #expect(channel.next(timeout: .milliseconds(50)) == nil)
        #expect(ContinuousClock.now - started < .milliseconds(500))
    }
}

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
}

@Suite struct CommandLineOptionsTests {
    @Test func parsesEveryFlag() throws {
        let options = try CommandLineOptions.parse(
            [
                "--config", "/etc/c.yaml", "--socket", "unix:/run/g.sock", "--threads", "8", "--max-body-size=2m",
                "--drain-timeout", "5", "--log-level", "debug", "--log-format", "json", "-t", "--socket-mode", "0660",
            ],
            environment: Environment())
        #expect(options.configPath == "/etc/c.yaml")
        #expect(options.socket == .unix(path: "/run/g.sock"))
        #expect(options.threads == 8)
        #expect(options.maxBodyBytes == 2 << 20)
        #expect(options.drainTimeout == 5)
        #expect(options.logLevel == .debug)
        #expect(options.logFormat == .json)
        #expect(options.testConfigOnly)
        #expect(options.socketMode == 0o660)
    }

    @Test func aSupervisorPassesItsWorkersNeitherItsOwnFlagsNorInternalOnes() throws {
        let arguments = [
            "--config", "c.yaml", "--socket=unix:/s", "--workers", "2", "--worker-takes-queue", "--threads", "4",
            "--worker-slot", "1",
        ]
        #expect(Supervisor.workerArguments(from: arguments) == ["--config", "c.yaml", "--threads", "4"])
        let worker = try CommandLineOptions.parse(["--worker-slot", "0", "--worker-takes-queue"], environment: Environment())
        #expect(worker.workerSlot == 0 && worker.workerTakesQueue)
    }

    @Test func configPathFallsBackToTheEnvironment() throws {
        #expect(try CommandLineOptions.parse([], environment: Environment(["CONFIG_FILE_PATH": "/x.yaml"])).configPath == "/x.yaml")
        #expect(try CommandLineOptions.parse([], environment: Environment()).configPath == "config.yaml")
    }

    @Test(arguments: [
        (["--threads", "0"], "--threads"), (["--socket", "http://x"], "--socket"), (["--bogus"], "--bogus"),
        (["--config"], "--config"), (["--log-level", "loud"], "--log-level"), (["--max-body-size", "lots"], "--max-body-size"),
    ])
    func usageErrorsNameTheFlag(arguments: [String], flag: String) {
        #expect {
            try CommandLineOptions.parse(arguments, environment: Environment())
        } throws: { error in
            (error as? CommandLineOptions.UsageError)?.description.contains(flag) == true
        }
    }

    @Test func socketAddresses() {
        #expect(ListenSocket.Address(parsing: "tcp:127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(ListenSocket.Address(parsing: "tcp:[::1]:9000") == .tcp(host: "::1", port: 9000))
        #expect(ListenSocket.Address(parsing: "tcp:host:0") == nil)
        #expect(ListenSocket.Address(parsing: "unix:relative.sock") == nil)
        #expect(ListenSocket.Address(parsing: "unix:/" + String(repeating: "a", count: 200)) == nil)
    }
}
