import Foundation

/// The gateway's answers to a key that may not do what it asks (docs/KEYS.md), in
/// LiteLLM's statuses and error types. Each names the rule that refused, never the key.
public enum KeyRefusal {
    static func expired(_ key: VirtualKey, at expiry: Date) -> GatewayError {
        GatewayError(
            status: 401,
            message: "Authentication Error - Expired Key. Key \(key.alias) expired at \(Self.timestamp(expiry)) (expires).",
            type: "expired_key", headers: Self.challenge)
    }

    static func blocked(_ key: VirtualKey) -> GatewayError {
        GatewayError(
            status: 401, message: "Authentication Error - Key \(key.alias) is blocked (blocked: true).", type: "auth_error",
            headers: Self.challenge)
    }

    static let routeNotAllowed = GatewayError(
        status: 403, message: "This key is not allowed to call this route (allowed_routes).", type: "auth_error")

    static func modelNotAllowed(_ model: String) -> GatewayError {
        GatewayError(
            status: 403, message: "This key is not allowed to use model \(Self.quoted(model)) (models).",
            type: "key_model_access_denied")
    }

    static func modelUnknown(_ reason: String) -> GatewayError {
        GatewayError(
            status: 403, message: "This key may only use some models (models), and \(reason).", type: "key_model_access_denied")
    }

    public static func limited(_ rule: KeyLimitRule, limit: Int, retryAfter: Int) -> GatewayError {
        let what =
            switch rule {
            case .rpm: "\(limit) requests per minute"
            case .parallel: "\(limit) requests at once"
            case .tpm: "\(limit) tokens per minute"
            case .budget: "a budget of \(limit) USD"
            }
        return GatewayError(
            status: 429, message: "Rate limit exceeded for this key: \(rule.rawValue) allows \(what). Retry later.",
            type: "rate_limit_error", headers: HTTPHeaders([("Retry-After", String(max(1, retryAfter)))]))
    }

    /// 503 for a key with limits while the store they are shared in cannot be reached
    /// and `shared_state_failure` is `closed`.
    public static func limitStoreUnavailable(retryAfter: Int) -> GatewayError {
        GatewayError(
            status: 503, message: "Shared limit store unavailable: this key's limits cannot be counted. Retry later.",
            headers: HTTPHeaders([("Retry-After", String(max(1, retryAfter)))]))
    }

    /// LiteLLM's answer to a key at or over its `max_budget`: its text (`auth_checks.py`,
    /// `_virtual_key_max_budget_check`: "Budget has been exceeded! Key=… Current cost: …,
    /// Max budget: …"), type `budget_exceeded`, and status 429 — what current LiteLLM
    /// answers (`auth_exception_handler.py` takes the error's `status_code`, defaulting to
    /// `HTTP_429_TOO_MANY_REQUESTS`; releases before it answered 400). LiteLLM names the key
    /// `alias (sk-...abcd)`; this gateway never shows any part of a key, so only the alias.
    /// `Retry-After` (not LiteLLM's) says when the window starts again, when it does.
    public static func budgetExceeded(_ key: VirtualKey, spend: Double, retryAfter: Int) -> GatewayError {
        let maxBudget = key.maxBudget ?? 0
        return GatewayError(
            status: 429,
            message: "Budget has been exceeded! Key=\(key.alias) Current cost: \(Self.amount(spend)), "
                + "Max budget: \(Self.amount(maxBudget))",
            type: "budget_exceeded",
            headers: retryAfter > 0 ? HTTPHeaders([("Retry-After", String(retryAfter))]) : HTTPHeaders())
    }

    /// A USD amount as Python prints a float (`0.0`, `10.0`, `0.000126`).
    static func amount(_ value: Double) -> String {
        let text = String(value)
        return text.contains(".") || text.contains("e") || !value.isFinite ? text : text + ".0"
    }

    /// RFC 9110 §11.6.1: a 401 carries `WWW-Authenticate`.
    static let challenge = HTTPHeaders([("WWW-Authenticate", "Bearer")])

    static func timestamp(_ date: Date) -> String { VirtualKey.timestamp(date) }

    /// A client-supplied name, printable and bounded, so the message stays one clean line.
    static func quoted(_ text: String) -> String {
        let cleaned = text.unicodeScalars.prefix(100).map { $0.value >= 0x20 && $0.value != 0x7F ? String($0) : "?" }.joined()
        return "'" + cleaned + (text.unicodeScalars.count > 100 ? "…" : "") + "'"
    }
}
