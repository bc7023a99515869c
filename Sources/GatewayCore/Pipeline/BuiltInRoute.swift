/// The routes the gateway answers itself (docs/BEHAVIOUR.md §7): the probes and metrics
/// without a key, `/key/info` to a key's holder or the master key.
///
/// The one list of their paths: the config refuses an endpoint on any of them, and the
/// decision step answers them before routing.
public enum BuiltInRoute: Sendable, Equatable {
    /// `"I'm alive!"` while the process runs (LiteLLM spells it both ways).
    case liveness
    /// 200 while serving, 503 once draining.
    case readiness
    /// Prometheus text format.
    case metrics
    /// LiteLLM's `GET /key/info`: a key's settings, never the key (docs/KEYS.md).
    case keyInfo
    /// LiteLLM's `GET /spend/logs`: the ledger's rows or daily totals, master key only.
    case spendLogs

    public static let byPath: [String: BuiltInRoute] = [
        "/health/liveliness": .liveness,
        "/health/liveness": .liveness,
        "/health/readiness": .readiness,
        "/metrics": .metrics,
        "/key/info": .keyInfo,
        "/spend/logs": .spendLogs,
    ]

    /// The methods every built-in route answers; others get 405.
    public static let methods = ["GET", "HEAD"]

    /// 405 for a built-in route asked with another method.
    static let methodNotAllowed = GatewayError(
        status: 405, message: "Method Not Allowed", headers: HTTPHeaders([("Allow", methods.joined(separator: ", "))]))
}
