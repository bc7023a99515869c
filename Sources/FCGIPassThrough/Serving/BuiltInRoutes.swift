import Foundation

/// The gateway's own routes; no key needed (SPEC §7).
enum BuiltInRoutes {
    static let liveness: Set<String> = ["/health/liveliness", "/health/liveness"]
    static let readiness = "/health/readiness"
    static let metrics = "/metrics"

    /// The answer for `path`, or `nil` when it is not a built-in route.
    static func answer(path: String, method: String, ready: Bool, version: String, metrics: Metrics) -> (
        status: Int, headers: HTTPHeaders, body: Data
    )? {
        let body: Data
        var status = 200
        var contentType = "application/json"
        if path == Self.metrics {
            body = Data(metrics.render(version: version).utf8)
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        } else if liveness.contains(path) {
            // LiteLLM answers the JSON string "I'm alive!" (quotes included).
            body = Data(#""I'm alive!""#.utf8)
        } else if path == readiness {
            status = ready ? 200 : 503
            let state = ready ? "healthy" : "draining"
            body = Data(#"{"status":"\#(state)","version":"\#(version)"}"#.utf8)
        } else {
            return nil
        }
        guard method == "GET" || method == "HEAD" else {
            return (405, HTTPHeaders([("Allow", "GET, HEAD")]), GatewayError(status: 405, message: "Method Not Allowed").body)
        }
        return (status, HTTPHeaders([("Content-Type", contentType), ("Cache-Control", "no-store")]), body)
    }
}
