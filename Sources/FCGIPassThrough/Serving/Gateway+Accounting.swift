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
        // Appended one by one: `fields += [...]` builds and frees an array each time, about
        // a thousand instructions.
        var fields: [(String, String)] = []
        fields.reserveCapacity(20)
        fields.append(("route", record.routeLabel))
        fields.append(("method", record.method))
        fields.append(("key_alias", record.caller.alias.isEmpty ? "-" : record.caller.alias))
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
        fields.append(("bytes_in", String(record.bytesIn)))
        fields.append(("bytes_out", String(record.bytesOut)))
        if let usage = record.usage {
            if let model = usage.model { fields.append(("model", Self.printable(model))) }
            fields.append(("input_tokens", String(usage.inputTokens)))
            fields.append(("output_tokens", String(usage.outputTokens)))
            fields.append(("cache_read_tokens", String(usage.cacheReadTokens)))
            fields.append(("cache_write_tokens", String(usage.cacheWriteTokens)))
            if usage.searchUnits > 0 { fields.append(("search_units", String(usage.searchUnits))) }
            if !usage.metered {
                fields.append(("usage", "unmetered"))
            } else if usage.partial {
                fields.append(("usage", "partial"))
            }
        }
        if let cost = record.cost { fields.append(("cost", String(cost))) }
        fields.append(("request_id", record.requestID))
        logger.log(level, message, fields)
        metrics.requestFinished(record)
    }

    /// A model name as a log value: it comes from a client's body or an upstream's
    /// answer, so control characters (a newline would forge a log line) and backslashes
    /// become `?`, and it is cut at 128 characters.
    static func printable(_ text: String) -> String {
        // Most names are short printable ASCII: they go as they are (checked on the
        // string's own bytes; a native string always has them contiguous).
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.count <= 128 && !bytes.contains { $0 < 0x20 || $0 >= 0x7F || $0 == 0x5C }
        }
        if plain == true { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(128) {
            let value = scalar.value
            let unsafe = value < 0x20 || (0x7F..<0xA0).contains(value) || value == 0x5C || value == 0x2028 || value == 0x2029
            out.append(unsafe ? "?" : scalar)
        }
        return String(out)
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
