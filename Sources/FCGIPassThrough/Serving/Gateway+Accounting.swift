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
        switch record.outcome {
        case .completed, .failed: break
        case .aborted:
            message = "request aborted"
            level = .warning
        case .clientGone:
            message = "client gone"
        }
        logger.log(level, message) { fields in
            fields.add("route", record.routeLabel)
            fields.add("method", record.method)
            fields.add("key_alias", record.caller.alias.isEmpty ? "-" : record.caller.alias)
            switch record.outcome {
            case .completed, .clientGone: break
            case .failed(let error): fields.add("error", error.message)
            case .aborted(_, let reason): fields.add("reason", reason)
            }
            fields.add("status", record.status)
            if let upstreamStatus = record.upstreamStatus { fields.add("upstream_status", upstreamStatus) }
            fields.add("ms", Self.milliseconds(record.duration))
            if let ttfb = record.timeToFirstByte { fields.add("ttfb_ms", Self.milliseconds(ttfb)) }
            fields.add("bytes_in", record.bytesIn)
            fields.add("bytes_out", record.bytesOut)
            if let usage = record.usage {
                if let model = usage.model { fields.add("model", Self.printable(model)) }
                fields.add("input_tokens", usage.inputTokens)
                fields.add("output_tokens", usage.outputTokens)
                fields.add("cache_read_tokens", usage.cacheReadTokens)
                fields.add("cache_write_tokens", usage.cacheWriteTokens)
                if usage.searchUnits > 0 { fields.add("search_units", usage.searchUnits) }
                if !usage.metered {
                    fields.add("usage", "unmetered")
                } else if usage.partial {
                    fields.add("usage", "partial")
                }
            }
            if let cost = record.cost { fields.add("cost", cost) }
            fields.add("request_id", record.requestID)
        }
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
