import Foundation

/// One entry of `general_settings.keys`: a client's own key, what it may call and how
/// fast (docs/KEYS.md). Named after LiteLLM's key object where it has a field for it.
public struct VirtualKey: Sendable, Equatable {
    /// `key_alias`: unique; what logs, metrics and `x-litellm-key-alias` show.
    public var alias: String
    /// SHA-256 of the key (`key_hash`, or computed from `key`).
    public var digest: KeyDigest
    /// `allowed_routes`; `nil`: every authenticated pass-through endpoint.
    public var allowedRoutes: [RoutePattern]?
    /// `models`; `nil`: any model.
    public var models: [ModelPattern]?
    /// `rpm_limit`: requests in any 60-second window, across the host.
    public var rpmLimit: Int?
    /// `max_parallel_requests`: requests in flight at once, across the host.
    public var maxParallelRequests: Int?
    /// `tpm_limit`: input plus output tokens in any 60-second window, across the host.
    public var tpmLimit: Int?
    /// `max_budget`: USD the key may spend in its budget window, across the host.
    public var maxBudget: Double?
    /// `budget_duration` in seconds; `nil`: the budget window is all time.
    public var budgetDuration: Int?
    /// `budget_duration` as written (`30d`), for `/key/info`.
    public var budgetDurationText: String?
    /// `expires`: refused from this instant on.
    public var expires: Date?
    /// `blocked`: refused while true.
    public var blocked: Bool
    /// `metadata`: the operator's notes, shown by `/key/info` and nowhere else.
    public var metadata: JSONValue?
    /// Where the entry sits in the file, e.g. `keys[2]`.
    public var location: String

    public init(
        alias: String, digest: KeyDigest, allowedRoutes: [RoutePattern]? = nil, models: [ModelPattern]? = nil,
        rpmLimit: Int? = nil, maxParallelRequests: Int? = nil, tpmLimit: Int? = nil, maxBudget: Double? = nil,
        budgetDuration: (seconds: Int, text: String)? = nil, expires: Date? = nil, blocked: Bool = false,
        metadata: JSONValue? = nil, location: String = "keys[0]"
    ) {
        self.alias = alias
        self.digest = digest
        self.allowedRoutes = allowedRoutes
        self.models = models
        self.rpmLimit = rpmLimit
        self.maxParallelRequests = maxParallelRequests
        self.tpmLimit = tpmLimit
        self.maxBudget = maxBudget
        self.budgetDuration = budgetDuration?.seconds
        self.budgetDurationText = budgetDuration?.text
        self.expires = expires
        self.blocked = blocked
        self.metadata = metadata
        self.location = location
    }

    /// The limits the shared table enforces for this key.
    public var limits: KeyLimits {
        KeyLimits(
            rpm: rpmLimit, parallel: maxParallelRequests, tpm: tpmLimit,
            budget: maxBudget.map { KeyBudget(maxBudget: $0, duration: budgetDuration) })
    }
}

/// One `allowed_routes` entry: `/p` is that path only; `/p/*` is `/p` and everything
/// below it at a segment boundary (`/p/x`, not `/px`). Matched against the decoded path
/// the router matched, so an encoding cannot reach a route the pattern does not name.
public struct RoutePattern: Sendable, Equatable {
    /// As written in the file.
    public var text: String
    /// The path, without `/*`.
    public var path: String
    public var subtree: Bool

    /// - Returns: `nil` unless `text` starts with `/` and has no `*` other than a final `/*`.
    public init?(_ text: String) {
        guard text.hasPrefix("/") else { return nil }
        var path = Substring(text)
        let subtree = path.hasSuffix("/*")
        if subtree { path = path.dropLast(2) }
        guard !path.contains("*") else { return nil }
        if path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        self.text = text
        self.path = String(path)
        self.subtree = subtree
    }

    public func matches(_ decodedPath: String) -> Bool {
        if decodedPath == path { return true }
        guard subtree else { return false }
        if path == "/" || path.isEmpty { return true }
        return decodedPath.hasPrefix(path) && decodedPath.utf8.dropFirst(path.utf8.count).first == UInt8(ascii: "/")
    }
}

/// One `models` entry: a model name, or a prefix with a trailing `*` (`claude-*`).
public struct ModelPattern: Sendable, Equatable {
    public var text: String

    public init(_ text: String) { self.text = text }

    public func matches(_ model: String) -> Bool {
        guard text.hasSuffix("*") else { return model == text }
        return model.hasPrefix(text.dropLast())
    }
}

/// A JSON value, for what the config carries through to a JSON answer (`metadata`).
///
/// Not `indirect`: the arrays already give the recursion its indirection, and with
/// `indirect` (Swift 6.3) LeakSanitizer reports boxes of the config's `metadata` values
/// as leaked by a gateway that exits.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Keys in file order.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.elementsEqual(y, by: { $0.0 == $1.0 && $0.1 == $1.1 })
        default: false
        }
    }
}
