import GatewayCore

extension SpendRow {
    /// The row as LiteLLM's `/spend/logs` lists a `LiteLLM_SpendLogs` row, so tools built
    /// for LiteLLM read it. What LiteLLM has no column for goes in `metadata`.
    public var litellmJSON: JSONValue {
        .object([
            ("request_id", .string(requestID)),
            ("call_type", .string("pass_through_endpoint")),
            ("api_key", .string(keyHash)),
            ("spend", .number(cost)),
            ("total_tokens", .number(Double(inputTokens + outputTokens))),
            ("prompt_tokens", .number(Double(inputTokens))),
            ("completion_tokens", .number(Double(outputTokens))),
            ("startTime", .string(UTCTime.iso8601(startTime))),
            ("endTime", .string(UTCTime.iso8601(endTime))),
            ("model", .string(model ?? "")),
            ("user", .string("")),
            (
                "metadata",
                .object([
                    ("user_api_key_alias", .string(keyAlias)),
                    ("route", .string(route)),
                    ("status", .number(Double(status))),
                    ("cache_read_input_tokens", .number(Double(cacheReadTokens))),
                    ("cache_creation_input_tokens", .number(Double(cacheWriteTokens))),
                    ("search_units", .number(Double(searchUnits))),
                    ("partial", .bool(partial)),
                    ("metered", .bool(metered)),
                ])
            ),
            ("cache_hit", .string("False")),
            ("request_tags", .array([])),
            ("status", .string(status < 400 ? "success" : "failure")),
        ])
    }
}

extension DailyTotal {
    /// Per-day totals in the shape LiteLLM's `/spend/logs?start_date=&end_date=` returns:
    /// one object per day, oldest first, with the day's `spend`, one member per key hash
    /// (its spend that day), and `models` (spend per model). `users` stays empty: the
    /// gateway has no end-user ids. Totals for the same day (one per key) are merged.
    public static func litellmSummary(_ totals: [DailyTotal]) -> JSONValue {
        var days: [String] = []
        var merged: [String: DailyTotal] = [:]
        for total in totals {
            if merged[total.day] == nil {
                days.append(total.day)
                merged[total.day] = DailyTotal(day: total.day, keyAlias: nil)
            }
            merged[total.day]?.spend += total.spend
            for (key, spend) in total.keys { merged[total.day]?.keys[key, default: 0] += spend }
            for (model, spend) in total.models { merged[total.day]?.models[model, default: 0] += spend }
        }
        return .array(
            days.sorted().compactMap { merged[$0] }.map { day in
                var members: [(String, JSONValue)] = [("startTime", .string(day.day)), ("spend", .number(day.spend))]
                for key in day.keys.keys.sorted() where !["startTime", "spend", "models", "users"].contains(key) {
                    members.append((key, .number(day.keys[key] ?? 0)))
                }
                members.append(
                    ("models", .object(day.models.keys.sorted().map { ($0, JSONValue.number(day.models[$0] ?? 0)) })))
                members.append(("users", .object([])))
                return .object(members)
            })
    }
}
