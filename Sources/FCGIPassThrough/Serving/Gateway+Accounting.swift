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
    func account(
        _ outcome: UpstreamRelay.Outcome, request: GatewayRequest, servedBy: ServedBy, requestID: String, stats: UpstreamRelay.Stats,
        duration: Duration
    ) {
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
        let failure = stats.failure
        var upstreamStatus: Int?
        switch outcome {
        case .completed(let answered):
            message = "request"
            status = answered
            if case .endpoint = servedBy { upstreamStatus = answered }
        case .failed(let error):
            message = "request"
            status = error.status
            fields.append(("error", error.message))
        case .aborted(let answered, let reason):
            message = "request aborted"
            level = .warning
            status = answered
            upstreamStatus = answered
            fields.append(("reason", reason))
        case .clientGone(let answered):
            message = "client gone"
            status = answered ?? 499  // nginx's code for a client that closed first
            upstreamStatus = answered
        }
        fields.append(("status", String(status)))
        if let upstreamStatus { fields.append(("upstream_status", String(upstreamStatus))) }
        fields.append(("ms", Self.milliseconds(duration)))
        if let ttfb = stats.timeToFirstByte { fields.append(("ttfb_ms", Self.milliseconds(ttfb))) }
        fields += [("bytes_in", String(stats.bytesIn)), ("bytes_out", String(stats.bytesOut))]
        if let cost { fields.append(("cost", String(cost))) }
        fields.append(("request_id", requestID))
        logger.log(level, message, fields)
        metrics.requestFinished(
            Metrics.Sample(
                route: route, method: request.method, status: status, failure: failure, cost: cost, duration: duration.seconds,
                timeToFirstByte: stats.timeToFirstByte?.seconds, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut))
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", duration.seconds * 1000)
    }
}
