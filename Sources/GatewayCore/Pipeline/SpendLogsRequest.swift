import Foundation

/// What `GET /spend/logs` asks for (LiteLLM's route and parameters, docs/USAGE.md).
public struct SpendLogsAsk: Sendable, Equatable {
    /// Unix seconds, inclusive.
    public var start: Double?
    /// Unix seconds, exclusive. A date (`2026-12-06`) ends with its day.
    public var end: Double?
    public var keyAlias: String?
    /// LiteLLM's default: per-day totals; `summarize=false`: the rows themselves.
    public var summarize = true
    public var page = 1
    public var pageSize = 100

    public static let maxPageSize = 1000

    public init() {}
}

/// Who may read the ledger at `GET /spend/logs`: the master key only, since rows name
/// every key's alias and spend.
enum SpendLogsRequest {
    static func decide(_ request: GatewayRequest, route: RequestRecord.Route, authenticator: Authenticator, now: Date)
        -> Decision
    {
        guard authenticator.enabled else { return Decision(route: route, action: .refuse(KeyInfoRequest.noKeys)) }
        let caller: Caller
        switch authenticator.identify(request.headers, now: now) {
        case .success(let identified): caller = identified
        case .failure(let refusal): return Decision(route: route, action: .refuse(refusal))
        }
        guard case .masterKey = caller else { return Decision(route: route, caller: caller, action: .refuse(masterOnly)) }
        switch parse(request.rawQuery) {
        case .success(let ask): return Decision(route: route, caller: caller, action: .spendLogs(ask))
        case .failure(let error): return Decision(route: route, caller: caller, action: .refuse(error))
        }
    }

    static let masterOnly = GatewayError(
        status: 403, message: "Only the master key may read the spend logs.", type: "auth_error")

    static func parse(_ query: Substring?) -> Result<SpendLogsAsk, GatewayError> {
        var ask = SpendLogsAsk()
        guard let query, !query.isEmpty else { return .success(ask) }
        var seen: Set<String> = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                return .failure(.badRequest("The query string is not valid UTF-8 after decoding."))
            }
            switch name {
            case "key", "api_key", "token": return .failure(KeyInfoRequest.keyInURL)
            case "start_date", "end_date", "key_alias", "summarize", "page", "page_size":
                guard seen.insert(name).inserted else { return .failure(.badRequest("\(name) must be given once.")) }
            default: continue
            }
            switch name {
            case "start_date":
                guard let time = time(value, endOfDay: false) else { return .failure(badDate(name)) }
                ask.start = time
            case "end_date":
                guard let time = time(value, endOfDay: true) else { return .failure(badDate(name)) }
                ask.end = time
            case "key_alias":
                ask.keyAlias = value
            case "summarize":
                switch value.asciiLowercased {
                case "true", "1": ask.summarize = true
                case "false", "0": ask.summarize = false
                default: return .failure(.badRequest("summarize must be true or false."))
                }
            case "page":
                guard let page = Int(value), page >= 1, page <= 1_000_000 else {
                    return .failure(.badRequest("page must be a whole number from 1."))
                }
                ask.page = page
            case "page_size":
                guard let size = Int(value), size >= 1, size <= SpendLogsAsk.maxPageSize else {
                    return .failure(.badRequest("page_size must be a whole number from 1 to \(SpendLogsAsk.maxPageSize)."))
                }
                ask.pageSize = size
            default: continue
            }
        }
        return .success(ask)
    }

    private static func badDate(_ name: String) -> GatewayError {
        .badRequest("\(name) must be a date (YYYY-MM-DD) or an ISO 8601 date-time.")
    }

    /// A date is its whole day: `end_date=2026-12-06` includes that day's rows.
    private static func time(_ text: String, endOfDay: Bool) -> Double? {
        guard let date = ISO8601Timestamp.parse(text) else { return nil }
        let dateOnly = text.utf8.count == 10
        return date.timeIntervalSince1970 + (endOfDay && dateOnly ? 86_400 : 0)
    }

    private static func decode(_ text: Substring) -> String? {
        PercentEncoding.decode(text.utf8, plusAsSpace: true).flatMap { String(validating: $0, as: UTF8.self) }
    }
}
