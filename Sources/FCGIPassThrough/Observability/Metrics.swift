import Foundation
import Synchronization

/// This process's counters, rendered in Prometheus text format at `GET /metrics`.
///
/// Labels are low-cardinality by construction: the route label is the endpoint's `id`
/// or configured path, never the client's subpath; statuses and kinds are gateway-chosen.
public final class Metrics: Sendable {
    struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private struct Counters {
        var requests: [RequestKey: Int] = [:]
        var upstreamErrors: [String: [String: Int]] = [:]
        var cost: [String: Double] = [:]
        var bytesOut: [String: Int] = [:]
    }

    private let counters = Mutex(Counters())
    private let inFlight = Atomic<Int>(0)
    private let started = Date()

    public init() {}

    func requestStarted() { inFlight.add(1, ordering: .relaxed) }

    /// Records a finished request; `failure` names what went wrong upstream, if anything.
    func requestFinished(route: String, method: String, status: Int, cost: Double?, failure: String?) {
        inFlight.subtract(1, ordering: .relaxed)
        // Unknown methods are folded so a client cannot mint label values.
        let method = Self.knownMethods.contains(method) ? method : "OTHER"
        counters.withLock { c in
            c.requests[RequestKey(route: route, method: method, status: status), default: 0] += 1
            if let failure { c.upstreamErrors[route, default: [:]][failure, default: 0] += 1 }
            if let cost, status < 400 { c.cost[route, default: 0] += cost }
        }
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    /// The Prometheus text exposition (version 0.0.4).
    func render(version: String) -> String {
        let c = counters.withLock { $0 }
        var out = ""
        out += "# HELP fcgi_pass_through_build_info Build information.\n# TYPE fcgi_pass_through_build_info gauge\n"
        out += "fcgi_pass_through_build_info{version=\"\(Self.escape(version))\"} 1\n"
        out += "# HELP fcgi_pass_through_start_time_seconds Process start time, Unix seconds.\n"
        out += "# TYPE fcgi_pass_through_start_time_seconds gauge\n"
        out += "fcgi_pass_through_start_time_seconds \(Int(started.timeIntervalSince1970))\n"
        out += "# HELP fcgi_pass_through_requests_in_flight Requests being served now.\n"
        out += "# TYPE fcgi_pass_through_requests_in_flight gauge\n"
        out += "fcgi_pass_through_requests_in_flight \(inFlight.load(ordering: .relaxed))\n"
        out += "# HELP fcgi_pass_through_requests_total Finished requests by route, method and status.\n"
        out += "# TYPE fcgi_pass_through_requests_total counter\n"
        for (key, count) in c.requests.sorted(by: {
            ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status)
        }) {
            out +=
                "fcgi_pass_through_requests_total{route=\"\(Self.escape(key.route))\",method=\"\(key.method)\",status=\"\(key.status)\"} \(count)\n"
        }
        out += "# HELP fcgi_pass_through_upstream_errors_total Upstream failures by route and kind.\n"
        out += "# TYPE fcgi_pass_through_upstream_errors_total counter\n"
        for (route, kinds) in c.upstreamErrors.sorted(by: { $0.key < $1.key }) {
            for (kind, count) in kinds.sorted(by: { $0.key < $1.key }) {
                out += "fcgi_pass_through_upstream_errors_total{route=\"\(Self.escape(route))\",kind=\"\(kind)\"} \(count)\n"
            }
        }
        out += "# HELP fcgi_pass_through_cost_usd_total Sum of cost_per_request over successful requests.\n"
        out += "# TYPE fcgi_pass_through_cost_usd_total counter\n"
        for (route, cost) in c.cost.sorted(by: { $0.key < $1.key }) {
            out += "fcgi_pass_through_cost_usd_total{route=\"\(Self.escape(route))\"} \(cost)\n"
        }
        return out
    }

    /// Label value escaping (backslash, quote, newline) per the text format.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
