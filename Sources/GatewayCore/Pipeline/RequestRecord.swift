/// Everything the gateway learned about one request, built up as it is served and read
/// once at its end by the request log line and the metrics.
public struct RequestRecord: Sendable {
    /// What answered the request.
    public enum Route: Sendable {
        /// No route: refused before matching (bad path) or nothing matched.
        case unmatched
        case builtIn(path: String)
        case endpoint(Endpoint)

        /// The endpoint, when the request reached one.
        public var endpoint: Endpoint? {
            if case .endpoint(let endpoint) = self { return endpoint }
            return nil
        }
    }

    /// How the request ended.
    public enum Outcome: Sendable, Equatable {
        /// A complete answer with this status (the upstream's, or the gateway's own).
        case completed(status: Int)
        /// Refused or failed before the head: the gateway answered with this error.
        case failed(GatewayError)
        /// Failed after the head: the response was broken off.
        case aborted(status: Int, reason: String)
        /// The client went away; the upstream's status if one had arrived.
        case clientGone(status: Int?)
    }

    public var requestID: String
    public var method: String
    public var route: Route = .unmatched
    public var caller: Caller = .anonymous
    public var outcome: Outcome = .completed(status: 200)
    /// The request body forwarded upstream.
    public var bytesIn = 0
    /// Body bytes written to the client.
    public var bytesOut = 0
    /// From the start of the upstream exchange to the upstream's response head.
    public var timeToFirstByte: Duration?
    /// From the request's arrival to its last byte.
    public var duration: Duration = .zero
    /// What went wrong upstream, as the `kind` of the error metric: an upstream failure
    /// cause, `timeout`, `slow_client`, `client_gone`, ...
    public var failure: String?

    public init(requestID: String, method: String) {
        self.requestID = requestID
        self.method = method
    }

    /// The route's label in logs and metrics: the endpoint's `id` or path, the built-in
    /// path, or `-`. Never the client's subpath.
    public var routeLabel: String {
        switch route {
        case .unmatched: "-"
        case .builtIn(let path): path
        case .endpoint(let endpoint): endpoint.label
        }
    }

    /// What the response used, read as it passed, when the endpoint meters
    /// (`usage:` other than `none`, docs/USAGE.md).
    public var usage: Usage?
    /// What the request cost in USD: `cost_per_request` plus its tokens' price, for an
    /// answer below 400 (a refused or failed call costs nothing); `nil` off an endpoint.
    public var cost: Double?
    /// Whether the model had a price; `false` counts the request as unpriced.
    public var priced = true

    /// The model the request or its response named, when metered.
    public var model: String? { usage?.model }

    /// The status the client saw (499, nginx's code, for a client that left first).
    public var status: Int {
        switch outcome {
        case .completed(let status), .aborted(let status, _): status
        case .failed(let error): error.status
        case .clientGone(let status): status ?? 499
        }
    }

    /// The upstream's status, when an upstream answered.
    public var upstreamStatus: Int? {
        guard case .endpoint = route else { return nil }
        switch outcome {
        case .completed(let status), .aborted(let status, _): return status
        case .clientGone(let status): return status
        case .failed: return nil
        }
    }
}
