import Foundation
import GatewayCore
import UpstreamTransports

/// Runs one upstream exchange and streams its answer to the client (docs/BEHAVIOUR.md §5).
///
/// Runs on the request's worker thread, which the transport drives the exchange on:
/// the head and body chunks are written to the client as they arrive, the idle timeout
/// and the client are watched while the upstream is silent, and the exchange is
/// stopped the moment the client is gone.
struct UpstreamRelay {
    let client: any UpstreamClient
    let buffering: ResponseBuffering
    /// How often a silent upstream is checked for an idle timeout or a vanished client by
    /// a transport that cannot wait on the client's connection (URLSession).
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
        let idleLimit = Duration.milliseconds(Int64(request.timeout * 1000))
        let sink = RelaySink(
            writer: writer, requestID: requestID, redactor: redactor, decoded: client.decodesContentEncoding,
            idleLimit: idleLimit, pollInterval: min(pollInterval, idleLimit))
        var buffering = buffering
        buffering.file = spoolLimit
        let failure = client.exchange(request, buffering: buffering, with: sink)
        let status = sink.status

        func result(_ outcome: RequestRecord.Outcome, failure: String? = nil) -> Result {
            Result(outcome: outcome, timeToFirstByte: sink.timeToFirstByte, bytesOut: sink.bytesOut, failure: failure)
        }
        /// Before the head: the gateway answers with its own error.
        func fail(_ kind: String?, _ error: GatewayError) -> Result {
            writer.write(error, requestID: requestID)
            return result(.failed(error), failure: kind)
        }
        /// After the head: the response is broken off (never an appended error body).
        func abort(_ kind: String, _ reason: String) -> Result {
            writer.abort()
            return result(.aborted(status: status ?? 0, reason: reason), failure: kind)
        }

        switch sink.stopped {
        case .clientGone:
            return result(.clientGone(status: status), failure: "client_gone")
        case .idleTimeout:
            if status == nil { return fail("timeout", GatewayError(status: 504, message: "Upstream timed out.")) }
            return abort("timeout", "upstream idle timeout")
        case .refusedHead(let error):
            return fail("protocol", error)
        case nil:
            break
        }
        guard let failure else {
            guard status != nil else {
                return fail("protocol", GatewayError(status: 502, message: "Upstream closed the connection without a response."))
            }
            guard sink.finish() else { return result(.clientGone(status: status), failure: "client_gone") }
            return result(.completed(status: status!))
        }
        if status != nil {
            if case .clientTooSlow(let why) = failure { return abort(failure.kind, "client too slow: \(why)") }
            return abort(failure.kind, "upstream failed mid-body")
        }
        switch failure {
        case .timedOut: return fail(failure.kind, GatewayError(status: 504, message: "Upstream timed out."))
        case .unreachable(let cause):
            return fail(failure.kind, GatewayError(status: 502, message: "Upstream unreachable: \(cause.message)."))
        case .unsupported(let why): return fail(nil, GatewayError.badRequest("Cannot forward this request: \(why)."))
        case .cancelled, .clientTooSlow:
            return fail(failure.kind, GatewayError(status: 502, message: "Upstream request was cancelled."))
        }
    }
}

/// Writes an upstream's answer to the client as the transport delivers it, and says
/// when the exchange is no longer wanted.
final class RelaySink: UpstreamSink {
    enum Stop {
        case clientGone
        case idleTimeout
        /// The head cannot be relayed: the gateway answers 502 instead.
        case refusedHead(GatewayError)
    }

    private let writer: any ResponseWriter
    private let requestID: String
    private let redactor: SecretRedactor
    private let decoded: Bool
    private let idleLimit: Duration
    let pollInterval: Duration
    private let started = ContinuousClock.now
    private var lastProgress = ContinuousClock.now
    private var body: SecretRedactor.Stream
    private var streaming = false

    private(set) var status: Int?
    private(set) var timeToFirstByte: Duration?
    private(set) var bytesOut = 0
    /// Why the sink ended the exchange, if it did.
    private(set) var stopped: Stop?

    init(
        writer: any ResponseWriter, requestID: String, redactor: SecretRedactor, decoded: Bool, idleLimit: Duration,
        pollInterval: Duration
    ) {
        self.writer = writer
        self.requestID = requestID
        self.redactor = redactor
        self.decoded = decoded
        self.idleLimit = idleLimit
        self.pollInterval = pollInterval
        self.body = SecretRedactor.Stream(redactor)
    }

    func receiveHead(status upstreamStatus: Int, headers: HTTPHeaders) -> Bool {
        lastProgress = .now
        let filtered: ResponseHeaderFilter.Result
        do {
            filtered = try ResponseHeaderFilter.filter(headers, requestID: requestID, decoded: decoded)
        } catch {
            let message =
                switch error {
                case .tooLarge: "Upstream sent a response header block that is too large."
                case .invalidContentLength: "Upstream sent an invalid Content-Length."
                }
            stopped = .refusedHead(GatewayError(status: 502, message: message))
            return false
        }
        status = upstreamStatus
        streaming = filtered.streaming
        timeToFirstByte = ContinuousClock.now - started
        guard writer.writeHead(status: upstreamStatus, headers: redactor.redact(filtered.headers)) else {
            stopped = .clientGone
            return false
        }
        return true
    }

    func receiveBody(_ data: Data) -> Bool {
        let visible = body.feed(data)
        bytesOut += visible.count
        guard visible.isEmpty || writer.writeBody(visible, flush: streaming) else {
            stopped = .clientGone
            return false
        }
        // Measured after the write: time spent waiting for the client is not the
        // upstream's silence.
        lastProgress = .now
        return true
    }

    func flushBeforeWaiting() -> Bool {
        guard writer.flush() else {
            stopped = .clientGone
            return false
        }
        return true
    }

    var departureDescriptor: Int32? { writer.departureDescriptor }
    var idleDeadline: ContinuousClock.Instant { lastProgress + idleLimit }

    func stillWanted() -> Bool {
        if writer.clientHasGone() {
            writer.abort()
            stopped = .clientGone
            return false
        }
        if ContinuousClock.now - lastProgress >= idleLimit {
            stopped = .idleTimeout
            return false
        }
        return true
    }

    /// Writes what the secret masking still held back; false when the client is gone.
    func finish() -> Bool {
        let rest = body.finish()
        bytesOut += rest.count
        return rest.isEmpty || writer.writeBody(rest, flush: true)
    }
}
