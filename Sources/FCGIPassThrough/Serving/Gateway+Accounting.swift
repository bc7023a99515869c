import GatewayCore
import Operations

extension Gateway {
    /// Logs one line per finished request and counts it, both from its record.
    /// Gateway-chosen fields only: never a header value, a body or a config value.
    func account(_ record: RequestRecord) {
        var level = Logger.Level.info
        var message = "request"
        // Health probes and scrapes would drown the request log.
        if case .builtIn = record.route { level = .debug }
        var fields: [(String, String)] = [
            ("route", record.routeLabel), ("method", record.method),
            ("key_alias", record.caller.alias.isEmpty ? "-" : record.caller.alias),
        ]
        switch record.outcome {
        case .completed: break
        case .failed(let error):
            fields.append(("error", error.message))
        case .aborted(_, let reason):
            message = "request aborted"
            level = .warning
            fields.append(("reason", reason))
        case .clientGone:
            message = "client gone"
        }
        fields.append(("status", String(record.status)))
        if let upstreamStatus = record.upstreamStatus { fields.append(("upstream_status", String(upstreamStatus))) }
        fields.append(("ms", Self.milliseconds(record.duration)))
        if let ttfb = record.timeToFirstByte { fields.append(("ttfb_ms", Self.milliseconds(ttfb))) }
        fields += [("bytes_in", String(record.bytesIn)), ("bytes_out", String(record.bytesOut))]
        if let cost = record.cost { fields.append(("cost", String(cost))) }
        fields.append(("request_id", record.requestID))
        logger.log(level, message, fields)
        metrics.requestFinished(record)
    }

    /// `%.1f` of the duration in milliseconds. Integer digits when the rounding is clear;
    /// `String(format:)` (a tenth of the request's CPU) only near a tie or out of range,
    /// where only printf's exact decimal rounding gives the same text.
    static func milliseconds(_ duration: Duration) -> String {
        let ms = duration.seconds * 1000
        let tenths = (ms * 10).rounded()
        // Below 1e9 tenths, the product's rounding error is under 1e-7: a distance to the
        // nearest half of more than 1e-6 cannot be on the other side of it.
        guard ms >= 0, tenths < 1e9, abs(abs(ms * 10 - tenths) - 0.5) > 1e-6 else {
            return String(format: "%.1f", ms)
        }
        let whole = Int(tenths)
        return "\(whole / 10).\(whole % 10)"
    }
}
