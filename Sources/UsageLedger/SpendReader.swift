import Foundation
import GatewayCore

/// The ledger's read side, on its own connection to whichever store holds the rows: the
/// host's SQLite file (in WAL mode a reader sees the last commit and neither waits for
/// the writers nor holds them up) or the shared PostgreSQL. Each query is written once,
/// in `SQLDialect` terms, so both stores give the same answers. `fcgi-pass-through
/// usage` opens one alone, without a writer.
public final class SpendReader: Sendable {
    private let store: Locked<any LedgerStore>
    /// Reading the shared PostgreSQL rather than a host's file.
    public let isShared: Bool

    /// Opens an existing ledger file for reading; never creates or migrates it.
    public static func open(path: String) throws(SpendLedgerError) -> SpendReader {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
        // Read-write when allowed: reading a WAL file may need to create its `-shm`.
        if let connection = try? SQLiteConnection(path: path) {
            return try SpendReader(checked: connection, path: path)
        }
        let connection: SQLiteConnection
        do throws(SQLiteError) {
            connection = try SQLiteConnection(path: path, readOnly: true)
        } catch {
            throw .sqlite(path: path, error)
        }
        return try SpendReader(checked: connection, path: path)
    }

    /// Reads the ledger in the PostgreSQL at `databaseURL`. Connects when first asked,
    /// so a server that is away now fails reads, not the opening.
    public static func open(databaseURL: String) -> SpendReader {
        SpendReader(store: PostgresLedgerStore(url: databaseURL))
    }

    init(checked connection: SQLiteConnection, path: String) throws(SpendLedgerError) {
        connection.setBusyTimeout(milliseconds: 1000)
        let version: Int
        do throws(SQLiteError) {
            version = try connection.integer("PRAGMA user_version")
        } catch {
            throw .sqlite(path: path, error)
        }
        guard version >= 1 else { throw .notALedger(path) }
        self.store = Locked(SQLiteLedgerStore(connection: connection, path: path))
        self.isShared = false
    }

    private init(store: PostgresLedgerStore) {
        self.store = Locked(store)
        self.isShared = true
    }

    /// Runs `sql` (built for the store's dialect) and maps each row.
    private func select<T>(
        _ sql: (SQLDialect) -> (String, [SQLValue]), _ map: (any LedgerResultRow) -> T
    ) throws(LedgerReadError) -> [T] {
        try store.withLock { store throws(LedgerReadError) in
            let (text, values) = sql(store.dialect)
            var results: [T] = []
            try store.query(text, values) { results.append(map($0)) }
            return results
        }
    }

    /// One page of rows, newest first.
    public func spendLogs(query: SpendLogQuery) throws(LedgerReadError) -> [SpendRow] {
        try select(
            { dialect in
                let filter = query.filter(dialect)
                let count = filter.values.count
                return (
                    "SELECT \(LedgerSchema.columns) FROM spend_logs\(filter.sql) ORDER BY start_time DESC, "
                        + "\(dialect.bytewise("request_id")) DESC LIMIT \(dialect.parameter(count + 1)) "
                        + "OFFSET \(dialect.parameter(count + 2))",
                    filter.values + [.integer(query.limit), .integer(query.offset)]
                )
            }, LedgerSchema.row(from:))
    }

    /// Sums per UTC day and key alias (`perKey`) or per day over all keys, oldest day
    /// first; the query's page is ignored.
    public func dailyTotals(query: SpendLogQuery, perKey: Bool = true) throws(LedgerReadError) -> [DailyTotal] {
        typealias Group = (
            day: String, alias: String, hash: String, model: String, spend: Double, tokens: TokenTotals
        )
        let groups: [Group] = try select(
            { dialect in
                let filter = query.filter(dialect)
                return (
                    """
                    SELECT \(dialect.day("start_time")) AS day, key_alias, key_hash, coalesce(model, ''), count(*), \
                    \(dialect.total("cost")), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), \
                    sum(cache_write_tokens) FROM spend_logs\(filter.sql) GROUP BY day, key_alias, key_hash, model \
                    ORDER BY day, \(dialect.bytewise("key_alias"))
                    """, filter.values
                )
            },
            { row in
                (
                    row.text(0) ?? "", row.text(1) ?? "", row.text(2) ?? "", row.text(3) ?? "", row.double(5),
                    TokenTotals(
                        requests: row.int(4), inputTokens: row.int(6), outputTokens: row.int(7),
                        cacheReadTokens: row.int(8), cacheWriteTokens: row.int(9))
                )
            })
        var totals: [DailyTotal] = []
        var index: [String: Int] = [:]
        for group in groups {
            let alias = perKey ? group.alias : nil
            let slot = group.day + "\u{0}" + (alias ?? "")
            let position = index[slot] ?? totals.count
            if position == totals.count {
                index[slot] = position
                totals.append(DailyTotal(day: group.day, keyAlias: alias))
            }
            totals[position].spend += group.spend
            totals[position].tokens.requests += group.tokens.requests
            totals[position].tokens.inputTokens += group.tokens.inputTokens
            totals[position].tokens.outputTokens += group.tokens.outputTokens
            totals[position].tokens.cacheReadTokens += group.tokens.cacheReadTokens
            totals[position].tokens.cacheWriteTokens += group.tokens.cacheWriteTokens
            totals[position].keys[group.hash, default: 0] += group.spend
            totals[position].models[group.model, default: 0] += group.spend
        }
        return totals
    }

    /// The filter of the per-key sums: `keyAlias` since `since`, on the hosts `hosts` names.
    private static func keyFilter(_ dialect: SQLDialect, keyAlias: String, since: Double, hosts: HostScope)
        -> (sql: String, values: [SQLValue])
    {
        SpendLogQuery(start: since, keyAlias: keyAlias).filter(dialect, extra: hosts.conditions)
    }

    /// What requests under `keyAlias` cost since `since` (Unix seconds): rows written
    /// by every process, not those still queued in memory, on the hosts `hosts` names.
    public func spendOf(keyAlias: String, since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> Double
    {
        try select(
            { dialect in
                let filter = Self.keyFilter(dialect, keyAlias: keyAlias, since: since, hosts: hosts)
                return ("SELECT \(dialect.total("cost")) FROM spend_logs\(filter.sql)", filter.values)
            }, { $0.double(0) }
        ).first ?? 0
    }

    /// What each key alias spent since `since` (Unix seconds), in one read, on the
    /// hosts `hosts` names (budgets across hosts read every budgeted key's figure at once).
    public func spendByKeyAlias(since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> [String: Double]
    {
        let sums = try select(
            { dialect in
                let filter = SpendLogQuery(start: since)
                    .filter(dialect, extra: hosts.conditions)
                return (
                    "SELECT key_alias, \(dialect.total("cost")) FROM spend_logs\(filter.sql) GROUP BY key_alias",
                    filter.values
                )
            }, { ($0.text(0) ?? "", $0.double(1)) })
        return Dictionary(sums, uniquingKeysWith: +)
    }

    /// Requests and tokens under `keyAlias` since `since` (Unix seconds), on
    /// the hosts `hosts` names.
    public func tokensOf(keyAlias: String, since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> TokenTotals
    {
        try select(
            { dialect in
                let filter = Self.keyFilter(dialect, keyAlias: keyAlias, since: since, hosts: hosts)
                let sums = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
                    .map(dialect.total).joined(separator: ", ")
                return ("SELECT count(*), \(sums) FROM spend_logs\(filter.sql)", filter.values)
            },
            { row in
                TokenTotals(
                    requests: row.int(0), inputTokens: row.int(1), outputTokens: row.int(2),
                    cacheReadTokens: row.int(3), cacheWriteTokens: row.int(4))
            }
        ).first ?? TokenTotals()
    }

    /// Sums per group over `[since, until)`, for `fcgi-pass-through usage`.
    func groupTotals(by grouping: UsageReport.Grouping, since: Double?, until: Double?) throws(LedgerReadError)
        -> [UsageReport.Line]
    {
        try select(
            { dialect in
                let filter = SpendLogQuery(start: since, end: until).filter(dialect)
                let group =
                    switch grouping {
                    case .key: "key_alias"
                    case .route: "route"
                    case .model: "coalesce(model, '')"
                    case .day: dialect.day("start_time")
                    }
                let cost = dialect.total("cost")
                // Expressions rather than the columns' names: PostgreSQL orders by an
                // output name only when it stands alone.
                let order = grouping == .day ? group : "\(cost) DESC, \(dialect.bytewise(group))"
                return (
                    """
                    SELECT \(group), count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), \
                    sum(cache_write_tokens), \(cost) FROM spend_logs\(filter.sql) GROUP BY \(group) ORDER BY \(order)
                    """, filter.values
                )
            },
            { row in
                UsageReport.Line(
                    group: row.text(0) ?? "", requests: row.int(1), inputTokens: row.int(2), outputTokens: row.int(3),
                    cacheReadTokens: row.int(4), cacheWriteTokens: row.int(5), cost: row.double(6))
            })
    }
}

/// Which hosts' rows a sum counts (the `host` column, `general_settings.host_id`).
public enum HostScope: Sendable, Equatable {
    case all
    /// One host's rows: what a host seeds its own count of a budget from.
    case only(String)
    /// Every other host's rows: what budgets across hosts add to a host's own count.
    case except(String)

    var conditions: [(String, SQLValue)] {
        switch self {
        case .all: []
        case .only(let host): [("host = {}", .text(host))]
        case .except(let host): [("host <> {}", .text(host))]
        }
    }
}
