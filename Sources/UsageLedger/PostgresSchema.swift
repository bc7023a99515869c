/// The ledger's tables in PostgreSQL: the same columns as the SQLite file's
/// `spend_logs`, versioned in `fcgi_pass_through_schema` (one row: how many of
/// `migrations` ran). Migrations are only appended, and only add, as in `LedgerSchema`.
enum PostgresSchema {
    static let migrations: [String] = [
        // v1: one row per request; `request_id` is the key, so `ON CONFLICT DO NOTHING`
        // makes a replayed row (from a spool, from two processes replaying it) a no-op.
        """
        CREATE TABLE spend_logs (
            request_id TEXT NOT NULL PRIMARY KEY,
            start_time DOUBLE PRECISION NOT NULL,
            end_time DOUBLE PRECISION NOT NULL,
            key_alias TEXT NOT NULL DEFAULT '',
            key_hash TEXT NOT NULL DEFAULT '',
            route TEXT NOT NULL,
            method TEXT NOT NULL,
            model TEXT,
            status INTEGER NOT NULL,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cache_read_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            search_units BIGINT NOT NULL DEFAULT 0,
            cost DOUBLE PRECISION NOT NULL DEFAULT 0,
            duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
            partial BOOLEAN NOT NULL DEFAULT false,
            metered BOOLEAN NOT NULL DEFAULT false,
            host TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX spend_logs_start_time ON spend_logs (start_time);
        CREATE INDEX spend_logs_key_alias ON spend_logs (key_alias, start_time);
        """
    ]

    static var version: Int { migrations.count }

    /// The advisory lock processes and hosts starting together take around the
    /// migration, so exactly one of them runs it (any constant; this is "fcgipass").
    static let migrationLock = "7378707617613226867"

    /// Brings the database to `version`. The lock is held for the session's migration
    /// only; a second process waits on it (within the statement timeout), then finds
    /// the version current.
    static func migrate(_ connection: PostgresConnection) throws(PostgresError) {
        try connection.execute("SELECT pg_advisory_lock(\(migrationLock))")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(migrationLock))") }
        try connection.execute("CREATE TABLE IF NOT EXISTS fcgi_pass_through_schema (version INTEGER NOT NULL)")
        let current =
            Int(
                try connection.execute("SELECT coalesce(max(version), 0) FROM fcgi_pass_through_schema")
                    .first?.first.flatMap { $0 } ?? "0") ?? 0
        guard current < version else { return }
        try connection.execute("BEGIN")
        do throws(PostgresError) {
            for migration in migrations.dropFirst(current) {
                try connection.execute(migration)
            }
            try connection.execute("DELETE FROM fcgi_pass_through_schema")
            try connection.execute("INSERT INTO fcgi_pass_through_schema (version) VALUES (\(version))")
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// One statement inserting `count` rows, each a group of `$n` parameters in
    /// `LedgerSchema.columns` order; a request id already there is skipped.
    static func insert(count: Int) -> String {
        let width = LedgerSchema.columnCount
        let groups = (0..<count).map { row in
            "(" + (1...width).map { "$\(row * width + $0)" }.joined(separator: ",") + ")"
        }
        return "INSERT INTO spend_logs (\(LedgerSchema.columns)) VALUES "
            + groups.joined(separator: ",") + " ON CONFLICT (request_id) DO NOTHING"
    }

    /// `rows`' values for `insert(count: rows.count)`, as text (`nil`: NULL).
    static func parameters(_ rows: [SpendRow]) -> [String?] {
        var values: [String?] = []
        values.reserveCapacity(rows.count * LedgerSchema.columnCount)
        for row in rows {
            values += [
                row.requestID, "\(row.startTime)", "\(row.endTime)", row.keyAlias, row.keyHash, row.route,
                row.method, row.model, String(row.status), String(row.inputTokens), String(row.outputTokens),
                String(row.cacheReadTokens), String(row.cacheWriteTokens), String(row.searchUnits), "\(row.cost)",
                "\(row.durationMs)", row.partial ? "true" : "false", row.metered ? "true" : "false", row.host,
            ]
        }
        // Rows the gateway builds already hold storable text (`SpendRow.storable`); any
        // other row gets the same treatment here rather than a value cut at a NUL.
        return values.map { $0.map(SpendRow.storable) }
    }
}
