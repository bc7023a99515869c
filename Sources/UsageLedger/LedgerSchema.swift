/// The ledger's tables, versioned by `PRAGMA user_version`: version N means the first N
/// migrations ran. Migrations are only ever appended, and keep every column a process
/// built before them reads and writes, so such a process still works on the file after
/// them.
enum LedgerSchema {
    static let migrations: [String] = [
        // v1: one row per request; `request_id` is the key so `INSERT OR IGNORE` makes a
        // replayed row a no-op. Indexes serve the time-range listing and the per-key sums.
        """
        CREATE TABLE spend_logs (
            request_id TEXT NOT NULL PRIMARY KEY,
            start_time REAL NOT NULL,
            end_time REAL NOT NULL,
            key_alias TEXT NOT NULL DEFAULT '',
            key_hash TEXT NOT NULL DEFAULT '',
            route TEXT NOT NULL,
            method TEXT NOT NULL,
            model TEXT,
            status INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            search_units INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            duration_ms REAL NOT NULL DEFAULT 0,
            partial INTEGER NOT NULL DEFAULT 0,
            metered INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX spend_logs_start_time ON spend_logs (start_time);
        CREATE INDEX spend_logs_key_alias ON spend_logs (key_alias, start_time);
        """,
        // v2: the host that served the request (`general_settings.host_id`), so spend can
        // be summed per host once several share a PostgreSQL ledger; and the spool, where
        // rows bound for an unreachable PostgreSQL wait: the same columns (made from
        // spend_logs so they cannot drift), a request id at most once, replayed in rowid
        // order, then deleted.
        """
        ALTER TABLE spend_logs ADD COLUMN host TEXT NOT NULL DEFAULT '';
        CREATE TABLE spool AS SELECT * FROM spend_logs WHERE 0;
        CREATE UNIQUE INDEX spool_request_id ON spool (request_id);
        """,
        // v3: `request_id` is no longer the table's key. A random id as the key put each
        // row's index entry on a page of its own, so every commit wrote a page per row back
        // through the WAL: about three quarters of an insert's cost, some 13 µs of CPU per
        // request. Rows are now unique by (start_time, request_id), so a retried batch still
        // inserts nothing twice; that index grows at its end, in time order, and serves the
        // newest-first listing. The table is rebuilt: every row is copied once.
        """
        CREATE TABLE spend_logs_v3 (
            request_id TEXT NOT NULL,
            start_time REAL NOT NULL,
            end_time REAL NOT NULL,
            key_alias TEXT NOT NULL DEFAULT '',
            key_hash TEXT NOT NULL DEFAULT '',
            route TEXT NOT NULL,
            method TEXT NOT NULL,
            model TEXT,
            status INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            search_units INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            duration_ms REAL NOT NULL DEFAULT 0,
            partial INTEGER NOT NULL DEFAULT 0,
            metered INTEGER NOT NULL DEFAULT 0,
            host TEXT NOT NULL DEFAULT ''
        );
        INSERT INTO spend_logs_v3 (\(columns)) SELECT \(columns) FROM spend_logs ORDER BY rowid;
        DROP TABLE spend_logs;
        ALTER TABLE spend_logs_v3 RENAME TO spend_logs;
        CREATE UNIQUE INDEX spend_logs_time_request ON spend_logs (start_time, request_id);
        CREATE INDEX spend_logs_key_alias ON spend_logs (key_alias, start_time);
        """,
    ]

    static var version: Int { migrations.count }

    /// The columns in `SpendRow` order, for the insert and every select of whole rows.
    static let columns = """
        request_id, start_time, end_time, key_alias, key_hash, route, method, model, status, input_tokens, \
        output_tokens, cache_read_tokens, cache_write_tokens, search_units, cost, duration_ms, partial, metered, host
        """

    static let columnCount = 19

    static let insert = insertSQL(into: "spend_logs")

    /// `INSERT OR IGNORE` of one row into `table` (`spend_logs` or `spool`).
    static func insertSQL(into table: String) -> String {
        "INSERT OR IGNORE INTO \(table) (\(columns)) VALUES (" + Array(repeating: "?", count: columnCount).joined(separator: ",") + ")"
    }

    /// Brings the file to `version`. `BEGIN IMMEDIATE` takes the write lock before reading
    /// the version, so of two processes opening a new file at once one migrates and the
    /// other then finds nothing to do.
    static func migrate(_ connection: SQLiteConnection) throws(SQLiteError) {
        guard try connection.integer("PRAGMA user_version") < version else { return }
        try connection.execute("BEGIN IMMEDIATE")
        do throws(SQLiteError) {
            let current = try connection.integer("PRAGMA user_version")
            for migration in migrations.dropFirst(current) {
                try connection.execute(migration)
            }
            if current < version { try connection.execute("PRAGMA user_version = \(version)") }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Binds `row` to the insert statement's 19 parameters and runs it. The text columns
    /// are copied one after another into `texts` and bound where they lie there: bound
    /// as Swift strings, SQLite copied each into an allocation of its own and freed it
    /// again, a few hundred instructions a column on every row.
    ///
    /// On return the statement's text parameters still point into `texts`: the caller
    /// must `reset()` the statement (which clears them) or insert again before `texts`
    /// changes and before the statement is stepped any other way.
    static func insert(_ row: SpendRow, with statement: SQLiteStatement, texts: inout [UInt8]) throws(SQLiteError) {
        texts.removeAll(keepingCapacity: true)
        let requestID = append(row.requestID, to: &texts)
        let keyAlias = append(row.keyAlias, to: &texts)
        let keyHash = append(row.keyHash, to: &texts)
        let route = append(row.route, to: &texts)
        let method = append(row.method, to: &texts)
        let model = row.model.map { append($0, to: &texts) }
        let host = append(row.host, to: &texts)
        try texts.withUnsafeBufferPointer { (bytes) throws(SQLiteError) in
            func text(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[range]) }
            statement.bind(1, inPlace: text(requestID))
            statement.bind(4, inPlace: text(keyAlias))
            statement.bind(5, inPlace: text(keyHash))
            statement.bind(6, inPlace: text(route))
            statement.bind(7, inPlace: text(method))
            if let model { statement.bind(8, inPlace: text(model)) } else { statement.bind(8, nil as String?) }
            statement.bind(19, inPlace: text(host))
            bindNumbers(row, to: statement)
            _ = try statement.step()
        }
    }

    /// Where `text`'s UTF-8 went in `texts`.
    private static func append(_ text: String, to texts: inout [UInt8]) -> Range<Int> {
        let start = texts.count
        if text.utf8.withContiguousStorageIfAvailable({ texts.append(contentsOf: $0) }) == nil {
            texts.append(contentsOf: text.utf8)
        }
        return start..<texts.count
    }

    private static func bindNumbers(_ row: SpendRow, to statement: SQLiteStatement) {
        statement.bind(2, row.startTime)
        statement.bind(3, row.endTime)
        statement.bind(9, row.status)
        statement.bind(10, row.inputTokens)
        statement.bind(11, row.outputTokens)
        statement.bind(12, row.cacheReadTokens)
        statement.bind(13, row.cacheWriteTokens)
        statement.bind(14, row.searchUnits)
        statement.bind(15, row.cost)
        statement.bind(16, row.durationMs)
        statement.bind(17, row.partial)
        statement.bind(18, row.metered)
    }

    /// The row a select of `columns` is on.
    static func row(from statement: any LedgerResultRow) -> SpendRow {
        SpendRow(
            requestID: statement.text(0) ?? "", startTime: statement.double(1), endTime: statement.double(2),
            keyAlias: statement.text(3) ?? "", keyHash: statement.text(4) ?? "", route: statement.text(5) ?? "",
            method: statement.text(6) ?? "", model: statement.text(7), status: statement.int(8),
            inputTokens: statement.int(9), outputTokens: statement.int(10), cacheReadTokens: statement.int(11),
            cacheWriteTokens: statement.int(12), searchUnits: statement.int(13), cost: statement.double(14),
            durationMs: statement.double(15), partial: statement.bool(16), metered: statement.bool(17),
            host: statement.text(18) ?? "")
    }
}
