import Foundation

/// Which rows `/spend/logs` lists: filters, then one page, newest first.
public struct SpendLogQuery: Sendable, Equatable {
    public static let defaultPageSize = 100
    public static let maxPageSize = 1000

    /// Rows that started at or after this (Unix seconds).
    public var start: Double?
    /// Rows that started before this (Unix seconds).
    public var end: Double?
    public var keyAlias: String?
    /// LiteLLM's `api_key` filter: the key's SHA-256 hex.
    public var keyHash: String?
    public var requestID: String?
    /// From 1.
    public var page: Int
    /// 1 to `maxPageSize`; other values are clamped into that range.
    public var pageSize: Int

    public init(
        start: Double? = nil, end: Double? = nil, keyAlias: String? = nil, keyHash: String? = nil,
        requestID: String? = nil, page: Int = 1, pageSize: Int = defaultPageSize
    ) {
        self.start = start
        self.end = end
        self.keyAlias = keyAlias
        self.keyHash = keyHash
        self.requestID = requestID
        self.page = page
        self.pageSize = pageSize
    }

    var limit: Int { min(max(pageSize, 1), Self.maxPageSize) }
    var offset: Int { (max(page, 1) - 1) * limit }

    /// The `WHERE` clause (or "") in `dialect`, and what to bind to its parameters, in
    /// order; `extra` conditions (their SQL with `{}` for the parameter) come last.
    func filter(_ dialect: SQLDialect, extra: [(String, SQLValue)] = []) -> (sql: String, values: [SQLValue]) {
        let conditions: [(String, SQLValue?)] = [
            ("start_time >= {}", start.map(SQLValue.real)),
            ("start_time < {}", end.map(SQLValue.real)),
            ("key_alias = {}", keyAlias.map(SQLValue.text)),
            ("key_hash = {}", keyHash.map(SQLValue.text)),
            ("request_id = {}", requestID.map(SQLValue.text)),
        ]
        let given = conditions.compactMap { condition, value in value.map { (condition, $0) } } + extra
        let sql = given.enumerated().map { offset, condition in
            condition.0.replacingOccurrences(of: "{}", with: dialect.parameter(offset + 1))
        }
        return (given.isEmpty ? "" : " WHERE " + sql.joined(separator: " AND "), given.map(\.1))
    }
}

/// A value bound to a statement parameter.
enum SQLValue: Equatable {
    case text(String)
    case real(Double)
    case integer(Int)

    static func bind(_ values: [SQLValue], to statement: SQLiteStatement) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .text(let text): statement.bind(index, text)
            case .real(let number): statement.bind(index, number)
            case .integer(let number): statement.bind(index, number)
            }
        }
    }
}

/// Token and request sums over a span, for budgets.
public struct TokenTotals: Sendable, Equatable {
    public var requests = 0
    public var inputTokens = 0
    public var outputTokens = 0
    public var cacheReadTokens = 0
    public var cacheWriteTokens = 0

    public init(
        requests: Int = 0, inputTokens: Int = 0, outputTokens: Int = 0, cacheReadTokens: Int = 0,
        cacheWriteTokens: Int = 0
    ) {
        self.requests = requests
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
    }
}

/// One UTC day's sums, for one key alias or for all.
public struct DailyTotal: Sendable, Equatable {
    /// `YYYY-MM-DD`, UTC.
    public var day: String
    /// The key alias ("" for requests without a client key); `nil` when summed over all.
    public var keyAlias: String?
    public var spend = 0.0
    public var tokens = TokenTotals()
    /// Spend per model named ("" for rows without a model).
    public var models: [String: Double] = [:]
    /// Spend per key hash ("" for rows without a key), LiteLLM's per-`api_key` members.
    public var keys: [String: Double] = [:]

    public init(day: String, keyAlias: String?) {
        self.day = day
        self.keyAlias = keyAlias
    }
}
