import Foundation

extension VirtualKey {
    /// LiteLLM's `/key/info` answer: `{"key": <sha256 hex>, "info": {...}}`. An unset
    /// field is `null`, as LiteLLM shows one; `spend` is what the gateway has recorded for
    /// the key in its current budget window (all time without `budget_duration`, as
    /// LiteLLM resets a key's spend when its budget resets); `budget_duration` is shown as
    /// written (`30d`); `budget_reset_at` (LiteLLM's field) is when the window ends, and
    /// `remaining_budget` what is left of `max_budget`.
    public func info(spend: Double = 0, now: Date = Date()) -> JSONValue {
        // LiteLLM's empty list means "no restriction"; the config refuses an empty list, so
        // `[]` here is unambiguous.
        func strings(_ list: [String]?) -> JSONValue { .array((list ?? []).map(JSONValue.string)) }
        func integer(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        let info: [(String, JSONValue)] = [
            ("key_alias", .string(alias)),
            ("spend", .number(spend)),
            ("max_budget", maxBudget.map(JSONValue.number) ?? .null),
            ("remaining_budget", maxBudget.map { .number(max(0, $0 - spend)) } ?? .null),
            ("budget_duration", budgetDurationText.map(JSONValue.string) ?? .null),
            ("budget_reset_at", budgetResetAt(now: now).map { .string(Self.timestamp($0)) } ?? .null),
            ("rpm_limit", integer(rpmLimit)),
            ("tpm_limit", integer(tpmLimit)),
            ("max_parallel_requests", integer(maxParallelRequests)),
            ("models", strings(models?.map(\.text))),
            ("allowed_routes", strings(allowedRoutes?.map(\.text))),
            ("expires", expires.map { .string(Self.timestamp($0)) } ?? .null),
            ("blocked", .bool(blocked)),
            ("metadata", metadata ?? .object([])),
        ]
        return .object([("key", .string(digest.hex)), ("info", .object(info))])
    }

    /// When the current budget window ends; `nil` without a windowed budget.
    func budgetResetAt(now: Date) -> Date? {
        guard let budget = limits.budget else { return nil }
        let second = Int(now.timeIntervalSince1970)
        return budget.secondsToWindowEnd(at: second).map { Date(timeIntervalSince1970: Double(second + $0)) }
    }

    /// ISO 8601 in UTC with seconds, as LiteLLM prints `expires`.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : String(n) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
