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

    /// - Parameter redactor: masks the configured secrets in the answer (SEC-04).
    func run(
        _ request: UpstreamRequest, requestID: String, redactor: SecretRedactor = SecretRedactor(secrets: []),
        writer: any ResponseWriter
    ) -> Outcome {
        let channel = ResponseChannel(bufferLimit: bufferLimit)
        let call = client.start(request, into: channel)
        let idleLimit = Duration.milliseconds(Int64(request.timeout * 1000))
        var status: Int?
        var streaming = false
        var body = SecretRedactor.Stream(redactor)

        func fail(_ error: GatewayError) -> Outcome {
            call.cancel()
            writer.write(error, requestID: requestID)
            return .failed(error)
        }
        func abort(_ reason: String) -> Outcome {
            call.cancel()
            writer.abort()
            return .aborted(status: status ?? 0, reason: reason)
        }

        while true {
            guard let event = channel.next(timeout: min(pollInterval, idleLimit)) else {
                if writer.clientHasGone() {
                    call.cancel()
                    writer.abort()
                    return .clientGone(status: status)
                }
                if channel.idleTime() >= idleLimit {
                    if status == nil { return fail(GatewayError(status: 504, message: "Upstream timed out.")) }
                    return abort("upstream idle timeout")
                }
                continue
            }
            switch event {
            case .head(let upstreamStatus, let upstreamHeaders):
                let filtered: ResponseHeaderFilter.Result
                do {
                    filtered = try ResponseHeaderFilter.filter(upstreamHeaders, requestID: requestID)
                } catch {
                    let message =
                        switch error {
                        case .tooLarge: "Upstream sent a response header block that is too large."
                        case .invalidContentLength: "Upstream sent an invalid Content-Length."
                        }
                    return fail(GatewayError(status: 502, message: message))
                }
                status = upstreamStatus
                streaming = filtered.streaming
                guard writer.writeHead(status: upstreamStatus, headers: redactor.redact(filtered.headers)) else {
                    call.cancel()
                    return .clientGone(status: status)
                }
            case .body(let data):
                let visible = body.feed(data)
                guard visible.isEmpty || writer.writeBody(visible, flush: streaming) else {
                    call.cancel()
                    return .clientGone(status: status)
                }
            case .end(nil):
                guard let status else {
                    return fail(GatewayError(status: 502, message: "Upstream closed the connection without a response."))
                }
                let rest = body.finish()
                guard rest.isEmpty || writer.writeBody(rest, flush: true) else { return .clientGone(status: status) }
                return .completed(status: status)
            case .end(.some(let failure)):
                if status != nil {
                    if channel.didOverflow { return abort("client too slow: buffer limit reached") }
                    return abort("upstream failed mid-body")
                }
                switch failure {
                case .timedOut: return fail(GatewayError(status: 504, message: "Upstream timed out."))
                case .unreachable(let why), .invalidResponse(let why):
                    return fail(GatewayError(status: 502, message: "Upstream unreachable: \(why)."))
                case .unsupported(let why): return fail(GatewayError.badRequest("Cannot forward this request: \(why)."))
                case .cancelled: return fail(GatewayError(status: 502, message: "Upstream request was cancelled."))
                }
            }
        }
    }
}
