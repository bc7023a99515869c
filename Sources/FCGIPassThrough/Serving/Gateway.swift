import Foundation
import Synchronization

/// The request pipeline: path → built-in routes → route match → auth → rewrite → relay.
public final class Gateway: RequestHandler, @unchecked Sendable {
    /// Everything derived from one config; swapped whole on reload so a request keeps
    /// the state it started with.
    struct State: Sendable {
        let config: GatewayConfig
        let router: Router
        let authenticator: Authenticator
        let rewriter: RequestRewriter
        let redactor: SecretRedactor

        init(config: GatewayConfig) {
            self.config = config
            self.router = Router(endpoints: config.endpoints)
            self.authenticator = Authenticator(config: config)
            self.rewriter = RequestRewriter(config: config)
            self.redactor = SecretRedactor(secrets: config.secrets)
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
        self.relay = UpstreamRelay(client: client, bufferLimit: bufferLimit, pollInterval: .milliseconds(100))
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
        let requestID = request.requestID ?? UUID().uuidString.asciiLowercased
        let state = state.withLock { $0 }
        var servedBy = ServedBy.unmatched
        var stats = UpstreamRelay.Stats()
        let outcome: UpstreamRelay.Outcome
        do {
            outcome = try serve(request, requestID: requestID, state: state, writer: writer, servedBy: &servedBy, stats: &stats)
        } catch {
            writer.write(error, requestID: requestID)
            outcome = .failed(error)
        }
        account(
            outcome, request: request, servedBy: servedBy, requestID: requestID, stats: stats, duration: ContinuousClock.now - started)
    }

    /// The pipeline in request order. Any refusal is thrown before an upstream is contacted.
    private func serve(
        _ request: GatewayRequest, requestID: String, state: State, writer: any ResponseWriter, servedBy: inout ServedBy,
        stats: inout UpstreamRelay.Stats
    ) throws(GatewayError) -> UpstreamRelay.Outcome {
        let path = try RequestPath(raw: request.rawPath)
        let ready = !draining.load(ordering: .relaxed)
        if let builtIn = BuiltInRoutes.answer(
            path: path.decoded, method: request.method, ready: ready, version: Self.version, metrics: metrics)
        {
            servedBy = .builtIn(path: path.decoded)
            var headers = builtIn.headers
            headers.set("Content-Length", String(builtIn.body.count))
            headers.set("x-litellm-call-id", requestID)
            _ =
                writer.writeHead(status: builtIn.status, headers: headers)
                && (request.method == "HEAD" || writer.writeBody(builtIn.body, flush: false))
            stats.bytesOut = builtIn.body.count
            return .completed(status: builtIn.status)
        }
        let match = state.router.match(path, method: request.method)
        guard case .endpoint(let endpoint, let subpath) = match else { throw match.error ?? .noRoute }
        servedBy = .endpoint(endpoint)
        if let denied = state.authenticator.check(request.headers, for: endpoint) { throw denied }
        // Only now is the body worth reading: a refused one is discarded unread (AUTH-05).
        let loaded = try request.loadingBody()
        stats.bytesIn = loaded.body.count
        let upstream = try state.rewriter.rewrite(loaded, endpoint: endpoint, subpath: subpath)
        return relay.run(upstream, requestID: requestID, redactor: state.redactor, writer: writer, stats: &stats)
    }
}
