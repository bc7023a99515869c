import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// The request pipeline with a scripted upstream and a recording writer: no sockets.
@Suite struct GatewayComponentTests {
    static let config = GatewayConfig(
        masterKey: "sk-master",
        endpoints: [
            TestSupport.endpoint(
                "/v1/rerank", target: "https://api.cohere.test/v1/rerank", headers: [("Authorization", "bearer up-secret")], timeout: 0.3)
        ])

    func run(_ request: GatewayRequest, upstream: ScriptedUpstream, config: GatewayConfig = config) -> RecordingWriter {
        let gateway = Gateway(config: config, client: upstream, logger: Logger(level: .error))
        let writer = RecordingWriter()
        gateway.handle(request, writer: writer)
        return writer
    }

    func authorized(_ uri: String = "/v1/rerank", body: String = #"{"a" : 1}"#) -> GatewayRequest {
        var request = TestSupport.request(
            uri, headers: [("authorization", "Bearer sk-master"), ("content-type", "application/json")], body: body)
        request.requestID = "req-1"
        return request
    }

    /// Regression (AUTH-05): the body was read into memory before auth decided, so a
    /// refused 50 MiB upload still cost 50 MiB of gateway memory.
    @Test func aRefusedRequestNeverReadsItsBody() {
        for headers in [[("authorization", "Bearer wrong")], []] {
            let source = CountingBodySource("{}")
            let request = GatewayRequest(method: "POST", requestURI: "/v1/rerank", headers: HTTPHeaders(headers), bodySource: source)
            let writer = run(request, upstream: ScriptedUpstream([.head(200, []), .end(nil)]))
            #expect(writer.status == 401)
            #expect(source.reads == 0)
        }
        let source = CountingBodySource("{}")
        let unknown = GatewayRequest(
            method: "POST", requestURI: "/nowhere", headers: HTTPHeaders([("authorization", "Bearer sk-master")]), bodySource: source)
        #expect(run(unknown, upstream: ScriptedUpstream([])).status == 404)
        #expect(source.reads == 0)
    }

    @Test func anAcceptedRequestReadsItsBodyOnceAndForwardsIt() {
        let source = CountingBodySource(#"{"q":1}"#)
        let request = GatewayRequest(
            method: "POST", requestURI: "/v1/rerank", headers: HTTPHeaders([("authorization", "Bearer sk-master")]), bodySource: source)
        let upstream = ScriptedUpstream([.head(200, [("Content-Length", "0")]), .end(nil)])
        #expect(run(request, upstream: upstream).status == 200)
        #expect(source.reads == 1)
        #expect(upstream.received.withLock { $0.first?.body } == Data(#"{"q":1}"#.utf8))
    }

    @Test func relaysStatusHeadersAndBodyWithTheCallID() {
        let upstream = ScriptedUpstream([
            .head(
                201,
                [
                    ("Content-Type", "application/json"), ("Content-Length", "7"), ("Server", "up"), ("X-Accel-Redirect", "/x"),
                    ("X-RateLimit", "9"),
                ]),
            .body("{\"ok\":1"), .end(nil),
        ])
        let writer = run(authorized(), upstream: upstream)
        #expect(writer.status == 201)
        #expect(writer.bodyText == "{\"ok\":1")
        #expect(writer.headers["x-litellm-call-id"] == "req-1")
        #expect(writer.headers["X-RateLimit"] == "9")
        #expect(writer.headers["Content-Length"] == "7")
        #expect(writer.headers["Server"] == nil)
        #expect(writer.headers["X-Accel-Redirect"] == nil)
        #expect(writer.headers["X-Accel-Buffering"] == nil)
        let sent = upstream.received.withLock { $0 }
        #expect(sent.count == 1)
        #expect(sent.first?.body == Data(#"{"a" : 1}"#.utf8))
        #expect(sent.first?.headers["Authorization"] == "bearer up-secret")
    }

    @Test func streamsEventStreamsWithAFlushPerChunk() {
        let upstream = ScriptedUpstream([
            .head(200, [("Content-Type", "text/event-stream; charset=utf-8")]),
            .body("data: 1\n\n"), .wait(.milliseconds(30)), .body("data: 2\n\n"), .end(nil),
        ])
        let writer = run(authorized(), upstream: upstream)
        #expect(writer.headers["X-Accel-Buffering"] == "no")
        #expect(writer.bodyText == "data: 1\n\ndata: 2\n\n")
        #expect(writer.flushes == 2)
        #expect(!writer.aborted)
    }

    /// `max_temp_file_size` reaches the transport with each exchange, and a reload
    /// changes it for the requests that start afterwards (the spooling itself:
    /// SpoolingChannelTests and the integration suite).
    @Test func maxTempFileSizeReachesTheTransportPerRequest() {
        var config = Self.config
        config.maxTempFileSize = 10
        let upstream = ScriptedUpstream([.head(200, []), .body("0123456789"), .end(nil)])
        let gateway = Gateway(config: config, client: upstream, logger: Logger(level: .error), bufferLimit: 4)
        gateway.handle(authorized(), writer: RecordingWriter())
        config.maxTempFileSize = 0
        gateway.replace(config: config)
        gateway.handle(authorized(), writer: RecordingWriter())
        #expect(
            upstream.buffering.withLock { $0 } == [ResponseBuffering(memory: 4, file: 10), ResponseBuffering(memory: 4, file: 0)])
    }

    @Test func failureBeforeTheHeadIsA502Envelope() {
        let writer = run(authorized(), upstream: ScriptedUpstream([.end(.unreachable(.connect))]))
        #expect(writer.status == 502)
        #expect(writer.bodyText.contains(#""code":"502""#))
        #expect(writer.bodyText.contains("internal_server_error"))
    }

    @Test func silenceBeforeTheHeadIsA504AndCancelsTheUpstream() {
        let upstream = ScriptedUpstream([.wait(.seconds(2)), .end(nil)])
        let started = ContinuousClock.now
        let writer = run(authorized(), upstream: upstream)
        #expect(writer.status == 504)
        #expect(ContinuousClock.now - started < .seconds(1.5))
        #expect(upstream.cancelled.load(ordering: .relaxed) == 1)
    }

    @Test func failureAfterTheHeadAbortsWithoutAnErrorBody() {
        let upstream = ScriptedUpstream([
            .head(200, [("Content-Type", "text/event-stream")]), .body("data: 1\n\n"),
            .end(.unreachable(.reset)),
        ])
        let writer = run(authorized(), upstream: upstream)
        #expect(writer.status == 200)
        #expect(writer.aborted)
        #expect(writer.bodyText == "data: 1\n\n")
    }

    @Test func idleStreamAfterTheHeadIsAborted() {
        let upstream = ScriptedUpstream([.head(200, [("Content-Type", "text/event-stream")]), .wait(.seconds(2)), .end(nil)])
        let writer = run(authorized(), upstream: upstream)
        #expect(writer.aborted)
        #expect(upstream.cancelled.load(ordering: .relaxed) == 1)
    }

    @Test func clientGoneCancelsTheUpstream() {
        let upstream = ScriptedUpstream([.head(200, [("Content-Type", "text/event-stream")]), .wait(.seconds(2)), .end(nil)])
        let gateway = Gateway(config: Self.config, client: upstream, logger: Logger(level: .error))
        let writer = RecordingWriter()
        writer.clientGone = true
        gateway.handle(authorized(), writer: writer)
        #expect(upstream.cancelled.load(ordering: .relaxed) == 1)
    }

    @Test func refusalsNeverReachTheUpstream() {
        let upstream = ScriptedUpstream([.end(nil)])
        for (request, status) in [
            (TestSupport.request("/v1/rerank"), 401),
            (TestSupport.request("/v1/rerank", headers: [("authorization", "Bearer wrong")]), 401),
            (TestSupport.request("/v1/%2e%2e/rerank", headers: [("authorization", "Bearer sk-master")]), 400),
            (TestSupport.request("/nope", headers: [("authorization", "Bearer sk-master")]), 404),
            (TestSupport.request("/v1/rerank", method: "HEAD", headers: [("authorization", "Bearer sk-master")]), 405),
        ] {
            let writer = run(request, upstream: upstream)
            #expect(writer.status == status, "\(request.requestURI)")
            #expect(writer.headers["Content-Type"] == "application/json")
            #expect(!writer.bodyText.contains("sk-master"))
        }
        #expect(upstream.received.withLock { $0.isEmpty })
    }

    @Test func healthRoutesNeedNoKey() {
        let upstream = ScriptedUpstream([.end(nil)])
        for path in ["/health/liveliness", "/health/liveness"] {
            let writer = run(TestSupport.request(path, method: "GET"), upstream: upstream)
            #expect(writer.status == 200)
            #expect(writer.bodyText == #""I'm alive!""#)
        }
        let gateway = Gateway(config: Self.config, client: upstream, logger: Logger(level: .error))
        let ready = RecordingWriter()
        gateway.handle(TestSupport.request("/health/readiness", method: "GET"), writer: ready)
        #expect(ready.status == 200)
        #expect(ready.bodyText.contains(#""status":"healthy""#))
        gateway.beginDraining()
        let draining = RecordingWriter()
        gateway.handle(TestSupport.request("/health/readiness", method: "GET"), writer: draining)
        #expect(draining.status == 503)
    }

    @Test func failuresAreCountedByKind() {
        let gateway = Gateway(config: Self.config, client: ScriptedUpstream([.end(.unreachable(.tls))]), logger: Logger(level: .error))
        gateway.handle(authorized(), writer: RecordingWriter())
        let text = gateway.metrics.render(version: "test")
        #expect(text.contains(#"fcgi_pass_through_upstream_errors_total{kind="tls",route="/v1/rerank"} 1"#))
        #expect(text.contains(#"fcgi_pass_through_requests_total{key_alias="master_key",method="POST",route="/v1/rerank",status="502"} 1"#))
        #expect(text.contains("fcgi_pass_through_requests_in_flight 0"))
    }

    @Test func oversizedUpstreamHeaderBlockIsA502() {
        let big = (0..<40).map { ("X-Big-\($0)", String(repeating: "v", count: 1000)) }
        let writer = run(authorized(), upstream: ScriptedUpstream([.head(200, big), .end(nil)]))
        #expect(writer.status == 502)
    }
}
