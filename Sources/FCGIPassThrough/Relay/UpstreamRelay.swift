import Foundation

/// Runs one upstream exchange and streams its answer to the client (SPEC §5).
///
/// Runs on the request's worker thread: it waits on the channel, writes what arrives,
/// watches the idle timeout and the client, and cancels the upstream the moment the
/// client is gone.
struct UpstreamRelay {
    let client: any UpstreamClient
    let bufferLimit: Int
    /// How often a silent upstream is checked for an idle timeout or a vanished client.
    let pollInterval: Duration

    enum Outcome: Equatable {
        case completed(status: Int)
        /// Failed before the head: the gateway answered with this error instead.
        case failed(GatewayError)
        /// Failed after the head: the response was aborted.
        case aborted(status: Int, reason: String)
        case clientGone(status: Int?)
    }

    /// What the relay measured, for the request log and metrics.
    struct Stats {
        var timeToFirstByte: Duration?
        var bytesOut = 0
        /// The request body forwarded; set by the gateway once it has read the body.
        var bytesIn = 0
        /// What went wrong upstream, as the `kind` of the error metric: a
        /// `UpstreamFailure.Cause`, `timeout`, `slow_client`, `client_gone`, ...
        var failure: String?
    }

    /// - Parameter redactor: masks the configured secrets in the answer (SEC-04).
    func run(
        _ request: UpstreamRequest, requestID: String, redactor: SecretRedactor = SecretRedactor(secrets: []),
        writer: any ResponseWriter, stats: inout Stats
    ) -> Outcome {
        let started = ContinuousClock.now
        let channel = ResponseChannel(bufferLimit: bufferLimit)
        let call = client.start(request, into: channel)
        let idleLimit = Duration.milliseconds(Int64(request.timeout * 1000))
        var status: Int?
        var streaming = false
        var body = SecretRedactor.Stream(redactor)

        /// Before the head: the gateway answers with its own error.
        func fail(_ kind: String?, _ error: GatewayError) -> Outcome {
            call.cancel()
            stats.failure = kind
            writer.write(error, requestID: requestID)
            return .failed(error)
        }
        /// After the head: the response is broken off (never an appended error body).
        func abort(_ kind: String, _ reason: String) -> Outcome {
            call.cancel()
            stats.failure = kind
            writer.abort()
            return .aborted(status: status ?? 0, reason: reason)
        }
        func clientGone() -> Outcome {
            call.cancel()
            stats.failure = "client_gone"
            return .clientGone(status: status)
        }

        while true {
            guard let event = channel.next(timeout: min(pollInterval, idleLimit)) else {
                if writer.clientHasGone() {
                    writer.abort()
                    return clientGone()
                }
                if channel.idleTime() >= idleLimit {
                    if status == nil { return fail("timeout", GatewayError(status: 504, message: "Upstream timed out.")) }
                    return abort("timeout", "upstream idle timeout")
                }
                continue
            }
            switch event {
            case .head(let upstreamStatus, let upstreamHeaders):
                let filtered: ResponseHeaderFilter.Result
                do {
                    filtered = try ResponseHeaderFilter.filter(
                        upstreamHeaders, requestID: requestID, decoded: client.decodesContentEncoding)
                } catch {
                    let message =
                        switch error {
                        case .tooLarge: "Upstream sent a response header block that is too large."
                        case .invalidContentLength: "Upstream sent an invalid Content-Length."
                        }
                    return fail("protocol", GatewayError(status: 502, message: message))
                }
                status = upstreamStatus
                streaming = filtered.streaming
                stats.timeToFirstByte = ContinuousClock.now - started
                guard writer.writeHead(status: upstreamStatus, headers: redactor.redact(filtered.headers)) else {
                    return clientGone()
                }
            case .body(let data):
                let visible = body.feed(data)
                stats.bytesOut += visible.count
                guard visible.isEmpty || writer.writeBody(visible, flush: streaming) else { return clientGone() }
            case .end(nil):
                guard let status else {
                    return fail(
                        "protocol", GatewayError(status: 502, message: "Upstream closed the connection without a response."))
                }
                let rest = body.finish()
                stats.bytesOut += rest.count
                guard rest.isEmpty || writer.writeBody(rest, flush: true) else { return clientGone() }
                return .completed(status: status)
            case .end(.some(let failure)):
                if status != nil {
                    if channel.didOverflow { return abort("slow_client", "client too slow: buffer limit reached") }
                    return abort(failure.kind, "upstream failed mid-body")
                }
                switch failure {
                case .timedOut: return fail(failure.kind, GatewayError(status: 504, message: "Upstream timed out."))
                case .unreachable(let cause):
                    return fail(failure.kind, GatewayError(status: 502, message: "Upstream unreachable: \(cause.message)."))
                case .unsupported(let why): return fail(nil, GatewayError.badRequest("Cannot forward this request: \(why)."))
                case .cancelled: return fail(failure.kind, GatewayError(status: 502, message: "Upstream request was cancelled."))
                }
            }
        }
    }
}
