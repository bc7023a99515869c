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

        init(config: GatewayConfig) {
            self.config = config
            self.router = Router(endpoints: config.endpoints)
            self.authenticator = Authenticator(config: config)
            self.rewriter = RequestRewriter(config: config)
        }
    }

    public static let version = "0.1.0"

    private let state: Mutex<State>
    private let relay: UpstreamRelay
    private let logger: Logger
    private let draining = Atomic<Bool>(false)

    public init(config: GatewayConfig, client: any UpstreamClient, logger: Logger, bufferLimit: Int = 8 << 20) {
        self.state = Mutex(State(config: config))
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
        let requestID = request.requestID ?? UUID().uuidString.asciiLowercased
        let state = state.withLock { $0 }
        var servedBy = ServedBy.unmatched
        let outcome: UpstreamRelay.Outcome
        do {
            outcome = try serve(request, requestID: requestID, state: state, writer: writer, servedBy: &servedBy)
        } catch {
            writer.write(error, requestID: requestID)
            outcome = .failed(error)
        }
        log(outcome, request: request, servedBy: servedBy, requestID: requestID, duration: ContinuousClock.now - started)
    }

    /// The pipeline in request order. Any refusal is thrown before an upstream is contacted.
    private func serve(
        _ request: GatewayRequest, requestID: String, state: State, writer: any ResponseWriter, servedBy: inout ServedBy
    ) throws(GatewayError) -> UpstreamRelay.Outcome {
        let path = try RequestPath(raw: request.rawPath)
        let ready = !draining.load(ordering: .relaxed)
        if let builtIn = BuiltInRoutes.answer(path: path.decoded, method: request.method, ready: ready, version: Self.version) {
            servedBy = .builtIn(path: path.decoded)
            var headers = builtIn.headers
            headers.set("Content-Length", String(builtIn.body.count))
            headers.set("x-litellm-call-id", requestID)
            _ =
                writer.writeHead(status: builtIn.status, headers: headers)
                && (request.method == "HEAD" || writer.writeBody(builtIn.body, flush: false))
            return .completed(status: builtIn.status)
        }
        let match = state.router.match(path, method: request.method)
        guard case .endpoint(let endpoint, let subpath) = match else { throw match.error ?? .noRoute }
        servedBy = .endpoint(endpoint)
        if let denied = state.authenticator.check(request.headers, for: endpoint) { throw denied }
        let upstream = try state.rewriter.rewrite(request, endpoint: endpoint, subpath: subpath)
        return relay.run(upstream, requestID: requestID, writer: writer)
    }

    /// What answered a request, for its log line.
    enum ServedBy {
        case unmatched
        case builtIn(path: String)
        case endpoint(Endpoint)
    }

    /// One line per finished request: gateway-chosen fields only, never headers or bodies.
    private func log(
        _ outcome: UpstreamRelay.Outcome, request: GatewayRequest, servedBy: ServedBy, requestID: String, duration: Duration
    ) {
        var level = Logger.Level.info
        var fields: [(String, String)] = []
        switch servedBy {
        case .unmatched: fields.append(("route", "-"))
        case .builtIn(let path):
            fields.append(("route", path))
            level = .debug  // health probes would drown the request log
        case .endpoint(let endpoint):
            fields.append(("route", endpoint.label))
            if let cost = endpoint.costPerRequest { fields.append(("cost", String(cost))) }
        }
        fields += [("method", request.method), ("ms", String(format: "%.1f", duration.seconds * 1000))]
        let message: String
        switch outcome {
        case .completed(let status):
            message = "request"
            fields.append(("status", String(status)))
        case .failed(let error):
            message = "request"
            fields += [("status", String(error.status)), ("error", error.message)]
        case .aborted(let status, let reason):
            message = "request aborted"
            level = .warning
            fields += [("status", String(status)), ("reason", reason)]
        case .clientGone(let status):
            message = "client gone"
            fields.append(("status", status.map(String.init) ?? "-"))
        }
        fields.append(("request_id", requestID))
        logger.log(level, message, fields)
    }
}
