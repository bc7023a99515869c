import Foundation

/// Where state shared by every gateway host lives (docs/SHARED_STATE.md): the ledger in
/// PostgreSQL, the keys' limits in Redis. Both optional; without them the ledger is the
/// host's SQLite file and limits are counted per host.
public struct SharedStateSettings: Sendable, Equatable {
    /// What key-limited requests get while a configured store cannot be reached.
    public enum Failure: String, Sendable, CaseIterable {
        /// They go on, counted per host (limits) or against the last known spend (budgets).
        case open
        /// They are answered 503.
        case closed
    }

    /// A `postgresql://` (or `postgres://`) URL, as libpq reads it; `nil`: SQLite.
    public var databaseURL: String?
    /// The Redis server the limits are counted in; `nil`: per host.
    public var redis: RedisAddress?
    public var failure: Failure

    public init(databaseURL: String? = nil, redis: RedisAddress? = nil, failure: Failure = .open) {
        self.databaseURL = databaseURL
        self.redis = redis
        self.failure = failure
    }

    /// Whether any store is shared between hosts.
    public var isShared: Bool { databaseURL != nil || redis != nil }
}

/// A Redis server: `redis://[[user]:password@]host[:port][/db]`, or LiteLLM's
/// `REDIS_HOST` / `REDIS_PORT` / `REDIS_PASSWORD`.
public struct RedisAddress: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Where it is, for logs: never the password.
    public var display: String { "redis://\(host):\(port)/\(database)" }

    /// Reads a `redis://` URL; the reason when it is not one this gateway can use.
    public static func parse(_ text: String) -> Result<RedisAddress, SharedStateURLError> {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return .failure(.init("must be a redis:// URL, such as redis://:password@127.0.0.1:6379/0"))
        }
        if scheme == "rediss" {
            return .failure(.init("rediss:// (TLS) is not supported: reach Redis over a private network or a local tunnel"))
        }
        guard scheme == "redis" else {
            return .failure(.init("must be a redis:// URL, such as redis://:password@127.0.0.1:6379/0"))
        }
        guard let host = components.host, !host.isEmpty else { return .failure(.init("names no host")) }
        let port = components.port ?? 6379
        guard (1...65535).contains(port) else { return .failure(.init("has a port outside 1-65535")) }
        var database = 0
        let path = components.path.drop { $0 == "/" }
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { return .failure(.init("must end in a database number, such as /0")) }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        return .success(
            RedisAddress(host: host, port: port, username: user, password: components.password, database: database))
    }
}

/// Why a shared store's URL cannot be used; never quotes the URL (it may hold a password).
public struct SharedStateURLError: Error, Sendable, Equatable {
    public var message: String
    init(_ message: String) { self.message = message }
}

/// PostgreSQL URLs as libpq takes them.
public enum PostgresURL {
    /// Whether `text` is a `postgresql://` or `postgres://` URL.
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://")
    }

    /// The URL without its password, for logs and error messages.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "postgresql://…" }
        if components.password != nil { components.password = "***" }
        // A password may also come as a query parameter.
        components.queryItems = components.queryItems?.map {
            $0.name.lowercased() == "password" ? URLQueryItem(name: $0.name, value: "***") : $0
        }
        return components.string ?? "postgresql://…"
    }
}
