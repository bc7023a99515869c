import Foundation
import GatewayCore
import UpstreamTransports

/// Runs one upstream exchange and streams its answer to the client (docs/BEHAVIOUR.md §5).
///
/// Runs on the request's worker thread: it waits on the channel, writes what arrives,
/// watches the idle timeout and the client, and cancels the upstream the moment the
/// client is gone.
struct UpstreamRelay {
    let client: any UpstreamClient
    /// Body bytes held in memory for a client slower than the upstream.
    let bufferLimit: Int
    /// How often a silent upstream is checked for an idle timeout or a vanished client.
    let pollInterval: Duration

    /// What the exchange came to, for the request's record.
    struct Result {
        var outcome: RequestRecord.Outcome
        var timeToFirstByte: Duration?
        /// Body bytes written to the client.
        var bytesOut = 0
        /// What went wrong upstream, as the `kind` of the error metric.
        var failure: String?
    }

    /// - Parameters:
    ///   - redactor: masks the configured secrets in the answer (SEC-04).
    ///   - spoolLimit: `max_temp_file_size`, the temporary file behind the memory buffer
    ///     for a transport that cannot pause (docs/BEHAVIOUR.md §5.5); 0: none.
    func run(
        _ request: UpstreamRequest, requestID: String, redactor: SecretRedactor = SecretRedactor(secrets: []),
        spoolLimit: Int = 0, writer: any ResponseWriter
    ) -> Result {
        let started = ContinuousClock.now
        let channel = ResponseChannel(bufferLimit: bufferLimit, spoolLimit: spoolLimit)
        // Whatever the channel still holds, in memory or on disk, goes when the exchange does.
        defer { channel.release() }
        let call = client.start(request, into: channel)
        let idleLimit = Duration.milliseconds(Int64(request.timeout * 1000))
        var status: Int?
        var streaming = false
        var body = SecretRedactor.Stream(redactor)
        var timeToFirstByte: Duration?
        var bytesOut = 0
        func result(_ outcome: RequestRecord.Outcome, failure: String? = nil) -> Result {
            Result(outcome: outcome, timeToFirstByte: timeToFirstByte, bytesOut: bytesOut, failure: failure)
        }

        /// Before the head: the gateway answers with its own error.
        func fail(_ kind: String?, _ error: GatewayError) -> Result {
            call.cancel()
            writer.write(error, requestID: requestID)
            return result(.failed(error), failure: kind)
        }
        /// After the head: the response is broken off (never an appended error body).
        func abort(_ kind: String, _ reason: String) -> Result {
            call.cancel()
            writer.abort()
            return result(.aborted(status: status ?? 0, reason: reason), failure: kind)
        }
        func clientGone() -> Result {
            call.cancel()
            return result(.clientGone(status: status), failure: "client_gone")
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
                timeToFirstByte = ContinuousClock.now - started
                guard writer.writeHead(status: upstreamStatus, headers: redactor.redact(filtered.headers)) else {
                    return clientGone()
                }
            case .body(let data):
                let visible = body.feed(data)
                bytesOut += visible.count
                guard visible.isEmpty || writer.writeBody(visible, flush: streaming) else { return clientGone() }
            case .end(nil):
                guard let status else {
                    return fail(
                        "protocol", GatewayError(status: 502, message: "Upstream closed the connection without a response."))
                }
                let rest = body.finish()
                bytesOut += rest.count
                guard rest.isEmpty || writer.writeBody(rest, flush: true) else { return clientGone() }
                return result(.completed(status: status))
            case .end(.some(let failure)):
                if status != nil {
                    if let overflow = channel.overflow { return abort("slow_client", Self.reason(overflow)) }
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

    /// The log's reason for a response cut off because the client could not keep up.
    static func reason(_ overflow: ResponseChannel.Overflow) -> String {
        switch overflow {
        case .bufferFull: "client too slow: buffer limit reached"
        case .spoolFull: "client too slow: max_temp_file_size reached"
        case .spoolFailed(let why): "client too slow: temporary file failed (\(why))"
        }
    }
}
