import GatewayCore

/// One request in the ledger: who sent it, where it went, what it used and cost
/// (LiteLLM's `LiteLLM_SpendLogs` row, in the gateway's terms).
public struct SpendRow: Sendable, Equatable {
    /// The request's `x-litellm-call-id`: the row's identity, so a replay never doubles it.
    public var requestID: String
    /// Unix seconds.
    public var startTime: Double
    /// Unix seconds.
    public var endTime: Double
    /// The client key's `key_alias`; "" when the request used no client key.
    public var keyAlias: String
    /// The client key's SHA-256 hex (`key_hash`, LiteLLM's `api_key`); "" when none.
    public var keyHash: String
    /// The route label (`RequestRecord.routeLabel`): the endpoint's id or path.
    public var route: String
    public var method: String
    /// The model the response (or the request) named.
    public var model: String?
    /// The status the client saw.
    public var status: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var cacheReadTokens: Int
    public var cacheWriteTokens: Int
    public var searchUnits: Int
    /// US dollars.
    public var cost: Double
    public var durationMs: Double
    /// The response ended early: the usage is what was seen.
    public var partial: Bool
    /// The response carried usage in a shape the gateway reads.
    public var metered: Bool
    /// The gateway host that served it (`general_settings.host_id`); "" until the ledger
    /// records it, which fills in its own host.
    public var host: String

    public init(
        requestID: String, startTime: Double, endTime: Double, keyAlias: String = "", keyHash: String = "",
        route: String, method: String, model: String? = nil, status: Int, inputTokens: Int = 0,
        outputTokens: Int = 0, cacheReadTokens: Int = 0, cacheWriteTokens: Int = 0, searchUnits: Int = 0,
        cost: Double = 0, durationMs: Double = 0, partial: Bool = false, metered: Bool = false, host: String = ""
    ) {
        self.requestID = requestID
        self.startTime = startTime
        self.endTime = endTime
        self.keyAlias = keyAlias
        self.keyHash = keyHash
        self.route = route
        self.method = method
        self.model = model
        self.status = status
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.searchUnits = searchUnits
        self.cost = cost
        self.durationMs = durationMs
        self.partial = partial
        self.metered = metered
        self.host = host
    }

    /// A row whose model and token counts come from what the response used.
    public init(
        requestID: String, startTime: Double, endTime: Double, keyAlias: String = "", keyHash: String = "",
        route: String, method: String, status: Int, usage: Usage, cost: Double
    ) {
        self.init(
            requestID: requestID, startTime: startTime, endTime: endTime, keyAlias: keyAlias, keyHash: keyHash,
            route: route, method: method, model: usage.model, status: status, inputTokens: usage.inputTokens,
            outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadTokens,
            cacheWriteTokens: usage.cacheWriteTokens, searchUnits: usage.searchUnits, cost: cost,
            durationMs: (endTime - startTime) * 1000, partial: usage.partial, metered: usage.metered)
    }
}

extension SpendRow {
    /// Text as every store holds it alike: libpq passes text parameters as C strings, so
    /// a NUL (a model name from a client's JSON may carry one as `\u0000`) would cut the
    /// value short in PostgreSQL while SQLite keeps it whole. A NUL becomes U+FFFD, the
    /// same in every store.
    public static func storable(_ text: String) -> String {
        // Over a native string's bytes in place: `utf8.contains` decodes them one by one.
        let hasNUL = text.utf8.withContiguousStorageIfAvailable { $0.contains(0) } ?? text.utf8.contains(0)
        return hasNUL ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }
}
