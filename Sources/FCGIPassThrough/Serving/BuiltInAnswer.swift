import Foundation
import GatewayCore
import Operations

/// The gateway's answer on one of its own routes (docs/BEHAVIOUR.md §7).
struct BuiltInAnswer {
    var status = 200
    var headers: HTTPHeaders
    var body: Data

    init(_ route: BuiltInRoute, ready: Bool, version: String, metrics: Metrics) {
        var contentType = "application/json"
        switch route {
        case .metrics:
            body = Data(metrics.render(version: version).utf8)
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        case .liveness:
            // LiteLLM answers the JSON string "I'm alive!" (quotes included).
            body = Data(#""I'm alive!""#.utf8)
        case .readiness:
            status = ready ? 200 : 503
            let state = ready ? "healthy" : "draining"
            body = Data(#"{"status":"\#(state)","version":"\#(version)"}"#.utf8)
        case .keyInfo, .spendLogs:
            // Decided as `.describe(key)` or `.spendLogs(ask)`; reaching here is a bug.
            status = 404
            body = GatewayError.notFound("Nothing to show.").body
        }
        headers = HTTPHeaders([("Content-Type", contentType), ("Cache-Control", "no-store")])
    }

    /// `/key/info` for `key`.
    init(describing key: VirtualKey, spend: Double) {
        body = Data(key.info(spend: spend).encoded.utf8)
        headers = HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    }
}
