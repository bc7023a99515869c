import Foundation
import GatewayCore
import Operations

/// The ledger in a shared PostgreSQL (docs/SHARED_STATE.md, "The ledger in PostgreSQL").
/// Each batch is one multi-row insert that skips request ids already there. While the
/// server cannot be reached, batches go to the `spool` table of the host's SQLite
/// file instead, and the store is reported down; once it answers again, each tick
/// first replays the spool, oldest first.
///
/// Exactly once: a row is deleted from the spool only after PostgreSQL committed it,
/// and PostgreSQL ignores a request id it holds. A crash between the commit and the
/// delete, a commit whose answer was lost, or several processes of the host replaying
/// the same spool at once all end in the same single row.
final class PostgresLedgerSink: LedgerSink {
    /// Reconnection attempts are at least this far apart.
    static let retryInterval = Duration.seconds(1)
    /// Spooled batches replayed per tick at most, so new rows are not held up long.
    static let replayBatchesPerTick = 10

    private let url: String
    private let spoolPath: String
    private let logger: Logger?
    private var connection: PostgresConnection?
    private var lastAttempt: ContinuousClock.Instant?
    /// When the server last answered: an idle connection is checked a second after.
    private var lastAnswer = ContinuousClock.now
    private var spool: LedgerSpool?
    let health: SharedStoreHealth? = SharedStoreHealth()
    /// Said at least once a minute while the store is down (each failed attempt notes it).
    private let downWarning: ThrottledWarning?

    /// `spoolPath`: the host's ledger file (`usage_db`), opened when first needed.
    init(url: String, spoolPath: String, logger: Logger?) {
        self.url = url
        self.spoolPath = spoolPath
        self.logger = logger
        downWarning = logger.map {
            ThrottledWarning(
                "spend ledger: PostgreSQL cannot be reached; rows spool to the local ledger file and are replayed when it is back",
                logger: $0, interval: .seconds(60))
        }
    }

    func maintain() {
        guard let connection = connectIfDue() else { return }
        // Without rows to write, a server gone away would go unnoticed (and the gauge
        // stay 1) until the next request: a trivial query a second finds out.
        if ContinuousClock.now - lastAnswer >= Self.retryInterval {
            do throws(PostgresError) {
                try connection.execute("SELECT 1")
                lastAnswer = .now
            } catch {
                lost(error)
                return
            }
        }
        replaySpool()
    }

    func write(_ rows: [SpendRow]) throws(LedgerWriteError) {
        if let connection = connectIfDue() {
            do throws(PostgresError) {
                try Self.insert(rows, into: connection)
                lastAnswer = .now
                return
            } catch {
                lost(error)
            }
        }
        do throws(SQLiteError) {
            try openSpool().append(rows)
            health?.spooled(rows.count)
        } catch {
            if !error.isBusy { spool = nil }
            throw LedgerWriteError(fields: [
                ("store", "postgresql"), ("spool", spoolPath), ("error", error.description),
            ])
        }
    }

    /// One statement, so one transaction: all of `rows` or none.
    static func insert(_ rows: [SpendRow], into connection: PostgresConnection) throws(PostgresError) {
        try connection.execute(PostgresSchema.insert(count: rows.count), PostgresSchema.parameters(rows))
    }

    /// The connection, opening (and migrating) it when there is none and the last
    /// attempt is a second old; `nil` while the server is away.
    private func connectIfDue() -> PostgresConnection? {
        if let connection { return connection }
        let now = ContinuousClock.now
        if let lastAttempt, now - lastAttempt < Self.retryInterval { return nil }
        lastAttempt = now
        do throws(PostgresError) {
            let fresh = try PostgresConnection(url: url)
            try PostgresSchema.migrate(fresh)
            connection = fresh
            lastAnswer = .now
            if lastAttemptFailed {
                logger?.log(.info, "spend ledger: PostgreSQL reached again; spooled rows are replayed", fields)
            }
            lastAttemptFailed = false
            health?.up = true
            return fresh
        } catch {
            lost(error)
            return nil
        }
    }

    private var lastAttemptFailed = false

    private var fields: [(String, String)] { [("store", "postgresql"), ("url", PostgresURL.redacted(url))] }

    /// The server did not answer or failed a statement: drop the connection (the next
    /// attempt opens a fresh one, a second later) and say so.
    private func lost(_ error: PostgresError) {
        connection = nil
        lastAttempt = .now
        lastAttemptFailed = true
        health?.up = false
        downWarning?.note(fields + [("error", error.message), ("spool", spoolPath)])
    }

    private func openSpool() throws(SQLiteError) -> LedgerSpool {
        if let spool { return spool }
        let opened = try LedgerSpool(path: spoolPath)
        spool = opened
        return opened
    }

    /// Moves spooled rows (this process's or another's on the host) to PostgreSQL:
    /// insert and commit first, then delete from the spool.
    private func replaySpool() {
        // No file yet: nothing was ever spooled on this host.
        guard spool != nil || FileManager.default.fileExists(atPath: spoolPath) else { return }
        for _ in 0..<Self.replayBatchesPerTick {
            let rows: [SpendRow]
            do throws(SQLiteError) {
                rows = try openSpool().oldestRows(LedgerWriter.batchSize)
            } catch {
                if !error.isBusy { spool = nil }
                return
            }
            guard !rows.isEmpty, let connection else { return }
            do throws(PostgresError) {
                try Self.insert(rows, into: connection)
            } catch {
                lost(error)
                return
            }
            // Committed: a failed delete only means these rows are offered again, and
            // ignored, on a later tick.
            do throws(SQLiteError) {
                try openSpool().remove(rows.map(\.requestID))
            } catch {
                return
            }
            health?.replayed(rows.count)
        }
    }
}
