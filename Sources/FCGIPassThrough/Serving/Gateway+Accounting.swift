import Foundation

extension Gateway {
    /// What answered a request, for its log line and metrics.
    enum ServedBy {
        case unmatched
        case builtIn(path: String)
        case endpoint(Endpoint)
    }

    /// Logs one line per finished request and counts it. Gateway-chosen fields only:
    /// never a header value, a body or a config value.
    func account(_ outcome: UpstreamRelay.Outcome, request: GatewayRequest, servedBy: ServedBy, requestID: String, duration: Duration) {
        var level = Logger.Level.info
        let route: String
        var cost: Double?
        switch servedBy {
        case .unmatched: route = "-"
        case .builtIn(let path):
            route = path
            level = .debug  // health probes and scrapes would drown the request log
        case .endpoint(let endpoint):
            route = endpoint.label
            cost = endpoint.costPerRequest
        }
        var fields: [(String, String)] = [("route", route), ("method", request.method)]
        let message: String
        let status: Int
        var failure: String?
        switch outcome {
        case .completed(let upstreamStatus):
            message = "request"
            status = upstreamStatus
        case .failed(let error):
            message = "request"
            status = error.status
            failure = [502: "unreachable", 504: "timeout"][error.status]
            fields.append(("error", error.message))
        case .aborted(let upstreamStatus, let reason):
            message = "request aborted"
            level = .warning
            status = upstreamStatus
            failure = "aborted"
            fields.append(("reason", reason))
        case .clientGone(let upstreamStatus):
            message = "client gone"
            status = upstreamStatus ?? 499  // nginx's code for a client that closed first
            failure = "client_gone"
        }
        fields.append(("status", String(status)))
        fields.append(("ms", String(format: "%.1f", duration.seconds * 1000)))
        if let cost { fields.append(("cost", String(cost))) }
        fields.append(("request_id", requestID))
        logger.log(level, message, fields)
        metrics.requestFinished(route: route, method: request.method, status: status, cost: cost, failure: failure)
    }
}
