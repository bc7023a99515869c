/// The `spool` table of the host's SQLite ledger file: rows bound for PostgreSQL that
/// could not reach it, kept until they are replayed. Shared by every process on the
/// host through WAL, like the ledger itself; only the writer thread touches it.
final class LedgerSpool {
    let path: String
    private let writer: WriteConnection
    private let oldest: SQLiteStatement
    private let delete: SQLiteStatement

    /// Opens (creating and migrating when needed) the file at `path`.
    init(path: String) throws(SQLiteError) {
        self.path = path
        // Longer than the writer's 50 ms: a spool that cannot be written leaves rows
        // in memory, and the replay's delete should rather wait than leave rows to be
        // replayed twice (harmless, but wasted).
        writer = try WriteConnection(SpendLedger.prepared(path: path), table: "spool", busyMilliseconds: 500)
        oldest = try writer.connection.prepare(
            "SELECT \(LedgerSchema.columns) FROM spool ORDER BY rowid LIMIT ?")
        delete = try writer.connection.prepare("DELETE FROM spool WHERE request_id = ?")
    }

    /// Keeps `rows` in one transaction; a request id already spooled is skipped.
    func append(_ rows: [SpendRow]) throws(SQLiteError) {
        try writer.insert(rows)
    }

    /// Up to `limit` rows, oldest first.
    func oldestRows(_ limit: Int) throws(SQLiteError) -> [SpendRow] {
        oldest.reset()
        oldest.bind(1, limit)
        defer { oldest.reset() }
        var rows: [SpendRow] = []
        while try oldest.step() { rows.append(LedgerSchema.row(from: oldest)) }
        return rows
    }

    /// Forgets the rows PostgreSQL has committed.
    func remove(_ requestIDs: [String]) throws(SQLiteError) {
        try writer.connection.execute("BEGIN IMMEDIATE")
        do throws(SQLiteError) {
            for id in requestIDs {
                delete.reset()
                delete.bind(1, id)
                _ = try delete.step()
            }
            delete.reset()
            try writer.connection.execute("COMMIT")
        } catch {
            delete.reset()
            try? writer.connection.execute("ROLLBACK")
            throw error
        }
    }
}
