import Foundation
import GatewayCore

/// The ledger's read side on its own connection: in WAL mode a reader sees the last
/// commit and neither waits for the writers nor holds them up. `fcgi-pass-through usage`
/// opens one alone, without a writer.
public final class SpendReader: Sendable {
    private let connection: Locked<SQLiteConnection>

    /// Opens an existing ledger for reading; never creates or migrates it.
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

    init(checked connection: SQLiteConnection, path: String) throws(SpendLedgerError) {
        connection.setBusyTimeout(milliseconds: 1000)
        let version: Int
        do throws(SQLiteError) {
            version = try connection.integer("PRAGMA user_version")
        } catch {
            throw .sqlite(path: path, error)
        }
        guard version >= 1 else { throw .notALedger(path) }
        self.connection = Locked(connection)
    }

    /// One page of rows, newest first.
    public func spendLogs(query: SpendLogQuery) throws(SQLiteError) -> [SpendRow] {
        let filter = query.filter
        let sql =
            "SELECT \(LedgerSchema.columns) FROM spend_logs\(filter.sql) "
            + "ORDER BY start_time DESC, request_id DESC LIMIT ? OFFSET ?"
        return try connection.withLock { connection throws(SQLiteError) in
            let statement = try connection.prepare(sql)
            SQLValue.bind(filter.values + [.integer(query.limit), .integer(query.offset)], to: statement)
            var rows: [SpendRow] = []
            while try statement.step() { rows.append(LedgerSchema.row(from: statement)) }
            return rows
        }
    }

    /// Sums per UTC day and key alias (`perKey`) or per day over all keys, oldest day
    /// first; the query's page is ignored.
    public func dailyTotals(query: SpendLogQuery, perKey: Bool = true) throws(SQLiteError) -> [DailyTotal] {
        let filter = query.filter
        let sql = """
            SELECT date(start_time, 'unixepoch') AS day, key_alias, key_hash, coalesce(model, ''), count(*), \
            total(cost), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens) \
            FROM spend_logs\(filter.sql) GROUP BY day, key_alias, key_hash, model ORDER BY day, key_alias
            """
        var totals: [DailyTotal] = []
        var index: [String: Int] = [:]
        try connection.withLock { connection throws(SQLiteError) in
            let statement = try connection.prepare(sql)
            SQLValue.bind(filter.values, to: statement)
            while try statement.step() {
                let day = statement.text(0) ?? ""
                let alias = perKey ? statement.text(1) ?? "" : nil
                let slot = day + "\u{0}" + (alias ?? "")
                let position = index[slot] ?? totals.count
                if position == totals.count {
                    index[slot] = position
                    totals.append(DailyTotal(day: day, keyAlias: alias))
                }
                let spend = statement.double(5)
                totals[position].spend += spend
                totals[position].tokens.requests += statement.int(4)
                totals[position].tokens.inputTokens += statement.int(6)
                totals[position].tokens.outputTokens += statement.int(7)
                totals[position].tokens.cacheReadTokens += statement.int(8)
                totals[position].tokens.cacheWriteTokens += statement.int(9)
                totals[position].keys[statement.text(2) ?? "", default: 0] += spend
                totals[position].models[statement.text(3) ?? "", default: 0] += spend
            }
        }
        return totals
    }

    /// What requests under `keyAlias` cost since `since` (Unix seconds): rows written
    /// by every process, not those still queued in memory.
    public func spendOf(keyAlias: String, since: Double) throws(SQLiteError) -> Double {
        try connection.withLock { connection throws(SQLiteError) in
            let statement = try connection.prepare(
                "SELECT total(cost) FROM spend_logs WHERE key_alias = ? AND start_time >= ?")
            SQLValue.bind([.text(keyAlias), .real(since)], to: statement)
            return try statement.step() ? statement.double(0) : 0
        }
    }

    /// Requests and tokens under `keyAlias` since `since` (Unix seconds).
    public func tokensOf(keyAlias: String, since: Double) throws(SQLiteError) -> TokenTotals {
        try connection.withLock { connection throws(SQLiteError) in
            let statement = try connection.prepare(
                "SELECT count(*), total(input_tokens), total(output_tokens), total(cache_read_tokens), "
                    + "total(cache_write_tokens) FROM spend_logs WHERE key_alias = ? AND start_time >= ?")
            SQLValue.bind([.text(keyAlias), .real(since)], to: statement)
            guard try statement.step() else { return TokenTotals() }
            return TokenTotals(
                requests: statement.int(0), inputTokens: statement.int(1), outputTokens: statement.int(2),
                cacheReadTokens: statement.int(3), cacheWriteTokens: statement.int(4))
        }
    }

    /// Sums per group over `[since, until)`, for `fcgi-pass-through usage`.
    func groupTotals(by grouping: UsageReport.Grouping, since: Double?, until: Double?) throws(SQLiteError)
        -> [UsageReport.Line]
    {
        let filter = SpendLogQuery(start: since, end: until).filter
        let group =
            switch grouping {
            case .key: "key_alias"
            case .route: "route"
            case .model: "coalesce(model, '')"
            case .day: "date(start_time, 'unixepoch')"
            }
        let order = grouping == .day ? "grp" : "cost DESC, grp"
        let sql = """
            SELECT \(group) AS grp, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), \
            sum(cache_write_tokens), total(cost) AS cost FROM spend_logs\(filter.sql) GROUP BY grp ORDER BY \(order)
            """
        return try connection.withLock { connection throws(SQLiteError) in
            let statement = try connection.prepare(sql)
            SQLValue.bind(filter.values, to: statement)
            var lines: [UsageReport.Line] = []
            while try statement.step() {
                lines.append(
                    UsageReport.Line(
                        group: statement.text(0) ?? "", requests: statement.int(1), inputTokens: statement.int(2),
                        outputTokens: statement.int(3), cacheReadTokens: statement.int(4),
                        cacheWriteTokens: statement.int(5), cost: statement.double(6)))
            }
            return lines
        }
    }
}
