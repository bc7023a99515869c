import Foundation
import GatewayCore
import Operations
import Synchronization
import UpstreamTransports

/// The request pipeline as two steps and a record: `RequestDecider` decides what a
/// request gets (built-in answer, refusal, or an upstream request), `UpstreamRelay`
/// carries an upstream exchange out, and the `RequestRecord` they fill is logged and
/// counted once at the end.
public final class Gateway: RequestHandler, @unchecked Sendable {
    /// Everything derived from one config; swapped whole on reload so a request keeps
    /// the state it started with.
    struct State: Sendable {
        let decider: RequestDecider
        let redactor: SecretRedactor
        /// `max_temp_file_size`: a request keeps the value it started with.
        let spoolLimit: Int

        init(config: GatewayConfig) {
            self.decider = RequestDecider(config: config)
            self.redactor = SecretRedactor(secrets: config.secrets)
            self.spoolLimit = config.maxTempFileSize
        }
    }

    public static let version = "0.1.0"

    private let state: Locked<State>
    private let relay: UpstreamRelay
    let logger: Logger
    let metrics: Metrics
    private let draining = Atomic<Bool>(false)

    public init(
        config: GatewayConfig, client: any UpstreamClient, logger: Logger, metrics: Metrics = Metrics(), bufferLimit: Int = 8 << 20
    ) {
        self.metrics = metrics
        self.state = Locked(State(config: config))
        self.relay = UpstreamRelay(
            client: client, buffering: ResponseBuffering(memory: bufferLimit), pollInterval: .milliseconds(100))
        self.logger = logger
    }

    /// Serves `config` from the next request on.
    public func replace(config: GatewayConfig) {
        let next = State(config: config)
        state.withLock { $0 = next }
    }

    /// Readiness answers 503 from now on.
    public func beginDraining() { draining.store(true, ordering: .relaxed) }

    public func handle(_ request: GatewayRequest, writer: any ResponseWriter) {
        let started = ContinuousClock.now
        metrics.requestStarted()
        var record = RequestRecord(requestID: request.requestID ?? UUID().uuidString.asciiLowercased, method: request.method)
        let state = state.withLock { $0 }
        let decision = state.decider.decide(request)
        record.route = decision.route
        record.caller = decision.caller
        switch decision.action {
        case .answer(let route):
            let answer = BuiltInAnswer(
                route, ready: !draining.load(ordering: .relaxed), version: Self.version, metrics: metrics)
            record.bytesOut = write(answer, method: request.method, requestID: record.requestID, to: writer)
            record.outcome = .completed(status: answer.status)
        case .refuse(let error):
            writer.write(error, requestID: record.requestID)
            record.outcome = .failed(error)
        case .forward(let upstream):
            record.bytesIn = upstream.body.count
            let relayed = relay.run(
                upstream, requestID: record.requestID, redactor: state.redactor, spoolLimit: state.spoolLimit,
                writer: writer)
            record.outcome = relayed.outcome
            record.timeToFirstByte = relayed.timeToFirstByte
            record.bytesOut = relayed.bytesOut
            record.failure = relayed.failure
        }
        record.duration = ContinuousClock.now - started
        account(record)
    }

    /// Writes a built-in answer (no body for `HEAD`); returns the body bytes written.
    private func write(_ answer: BuiltInAnswer, method: String, requestID: String, to writer: any ResponseWriter) -> Int {
        var headers = answer.headers
        headers.set("Content-Length", String(answer.body.count))
        headers.set("x-litellm-call-id", requestID)
        _ =
            writer.writeHead(status: answer.status, headers: headers)
            && (method == "HEAD" || writer.writeBody(answer.body, flush: false))
        return answer.body.count
    }
}
