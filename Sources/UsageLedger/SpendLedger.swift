import Foundation
import GatewayCore
import Operations

/// Why the ledger could not be opened.
public enum SpendLedgerError: Error, CustomStringConvertible, Sendable {
    /// The directory the file goes in does not exist: the ledger does not create it.
    case missingDirectory(String)
    /// No file at the path (reading only: the writer creates it).
    case missingFile(String)
    /// The file holds no ledger tables.
    case notALedger(String)
    case sqlite(path: String, SQLiteError)

    public var description: String {
        switch self {
        case .missingDirectory(let directory): "the directory \(directory) does not exist"
        case .missingFile(let path): "no spend ledger at \(path)"
        case .notALedger(let path): "\(path) is not a spend ledger"
        case .sqlite(let path, let error): "\(path): \(error)"
        }
    }
}

/// The spend ledger: one row per request (docs/USAGE.md, "The ledger"), in one SQLite
/// file that every gateway process on the host shares (WAL mode lets them all write
/// and read it), or in a PostgreSQL every host shares, with that file as the spool for
/// rows written while the server is away (docs/SHARED_STATE.md).
///
/// `record` only queues the row in memory; a thread writes the queue every 250 ms, so
/// the request path never touches the database and a killed process loses at most its
/// last second. Reads use their own connection, which WAL lets run beside the writes.
public final class SpendLedger: Sendable {
    /// What the writer has done since open.
    public struct Stats: Sendable, Equatable {
        /// Rows queued and not yet written.
        public var pending = 0
        /// Rows committed (a replayed request id counts, though the insert ignored it),
        /// to the store or, while PostgreSQL is away, to the spool.
        public var writtenRows = 0
        /// Batches that failed to write (busy, read-only, full, ...) and stayed queued;
        /// a batch PostgreSQL refused but the spool took is not one.
        public var writeFailures = 0
        /// Rows dropped, oldest first, because the queue was full.
        public var droppedRows = 0
        /// Whether the writer reaches the shared PostgreSQL; `nil` for a SQLite ledger.
        public var sharedStoreUp: Bool?
        /// Rows written to the local spool because PostgreSQL could not be reached.
        public var spooledRows = 0
        /// Spooled rows (any process's on the host) this process moved to PostgreSQL.
        public var replayedRows = 0

        public init() {}
    }

    /// Rows the queue holds before the oldest are dropped: about 50 MB at worst, and
    /// seven minutes of a busy instance's requests (250 per second) with the database down.
    public static let defaultQueueCapacity = 100_000

    /// The host's ledger file: the ledger itself, or the spool of a PostgreSQL one.
    public let path: String
    /// What the rows' `host` holds (`general_settings.host_id`).
    public let hostID: String
    /// The rows go to a server every host shares (PostgreSQL), not only this host's file.
    public var isShared: Bool { reader.isShared }
    private let writer: LedgerWriter
    /// The read connection, also for `spendLogs` and the sums.
    public let reader: SpendReader

    /// Where the gateway keeps the ledger: `$STATE_DIRECTORY/usage.db` when systemd sets
    /// `STATE_DIRECTORY` (`StateDirectory=` in the unit; the first one when it names
    /// several), else `usage.db` in the current directory.
    public static func defaultPath(environment: Environment) -> String {
        if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !state.isEmpty {
            return (String(state) as NSString).appendingPathComponent("usage.db")
        }
        return "usage.db"
    }

    /// Opens (creating if needed) the ledger and starts its writer thread.
    /// - Parameters:
    ///   - path: the host's file (`usage_db`); its directory must exist. With a
    ///     `databaseURL`, the spool, created when PostgreSQL is first away.
    ///   - databaseURL: a `postgresql://` URL: the rows go there; `nil`: to `path`. A
    ///     server that cannot be reached now does not fail the open: rows spool until
    ///     it answers.
    ///   - hostID: what every row recorded here carries as its `host`.
    ///   - logger: where write failures are reported, at most once a minute.
    ///   - queueCapacity: rows held in memory while nothing can be written.
    public static func open(
        path: String, databaseURL: String? = nil, hostID: String = "", logger: Logger? = nil,
        queueCapacity: Int = defaultQueueCapacity
    ) throws(SpendLedgerError) -> SpendLedger {
        guard let databaseURL else {
            return try Self.open(
                path: path, hostID: hostID, logger: logger, queueCapacity: queueCapacity, writerReadOnly: { false })
        }
        try checkDirectory(of: path)
        let sink = PostgresLedgerSink(url: databaseURL, spoolPath: path, logger: logger)
        let writer = LedgerWriter(sink: sink, capacity: queueCapacity, logger: logger)
        // Connects (and migrates) before the first request when the server answers;
        // when it does not, this is the first warning and the thread retries.
        writer.maintain()
        let ledger = SpendLedger(
            path: path, hostID: hostID, writer: writer, reader: SpendReader.open(databaseURL: databaseURL))
        writer.start()
        return ledger
    }

    static func open(
        path: String, hostID: String = "", logger: Logger?, queueCapacity: Int,
        writerReadOnly: @escaping @Sendable () -> Bool
    ) throws(SpendLedgerError) -> SpendLedger {
        try checkDirectory(of: path)
        let writer: LedgerWriter
        let readConnection: SQLiteConnection
        do throws(SQLiteError) {
            let connection = try prepared(path: path)
            // The connection that migrated writes; a writer that must open read-only
            // (tests) opens its own on the first tick.
            let sink = SQLiteLedgerSink(
                path: path, connection: try writerReadOnly() ? nil : WriteConnection(connection),
                readOnly: writerReadOnly)
            writer = LedgerWriter(sink: sink, capacity: queueCapacity, logger: logger)
            readConnection = try SQLiteConnection(path: path)
        } catch {
            throw .sqlite(path: path, error)
        }
        let ledger = SpendLedger(
            path: path, hostID: hostID, writer: writer, reader: try SpendReader(checked: readConnection, path: path))
        writer.start()
        return ledger
    }

    /// The ledger does not create the directory its file goes in.
    private static func checkDirectory(of path: String) throws(SpendLedgerError) {
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !directory.isEmpty,
            !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue
        {
            throw .missingDirectory(directory)
        }
    }

    /// A connection to a file in WAL mode with the current schema. Opening is not on a
    /// request path: it waits for another process's migration or switch to WAL rather
    /// than fail start-up. SQLite answers "busy" at once, without calling the busy
    /// handler, when waiting could deadlock (two connections switching a new file to WAL
    /// together, as the processes of several instances starting at once do): such a try
    /// is repeated on a fresh connection, for up to two minutes, which covers a migration
    /// that rebuilds a large file (version 3 copies every row: about 7 s per million).
    static func prepared(path: String) throws(SQLiteError) -> SQLiteConnection {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            do throws(SQLiteError) {
                let connection = try SQLiteConnection(path: path, create: true)
                connection.setBusyTimeout(milliseconds: 5000)
                let mode = try connection.text("PRAGMA journal_mode = WAL")
                guard mode?.lowercased() == "wal" else {
                    throw SQLiteError(code: 1, message: "could not switch to WAL mode (journal_mode is \(mode ?? "unknown"))")
                }
                try LedgerSchema.migrate(connection)
                return connection
            } catch  where error.isBusy && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: Double.random(in: 0.01...0.05))
            }
        }
    }

    private init(path: String, hostID: String, writer: LedgerWriter, reader: SpendReader) {
        self.path = path
        self.hostID = hostID
        self.writer = writer
        self.reader = reader
    }

    deinit {
        _ = writer.stop(timeout: .seconds(1))
    }

    /// Queues `row` for the writer and returns at once; never blocks on the database.
    public func record(_ row: SpendRow) {
        guard row.host.isEmpty else { return writer.record(row) }
        var stamped = row
        stamped.host = hostID
        writer.record(stamped)
    }

    /// Writes everything queued now, retrying a locked database until `timeout` (drain,
    /// recycle, reload). `true` when nothing is left queued.
    @discardableResult
    public func flush(timeout: Duration = .seconds(2)) -> Bool {
        writer.flush(timeout: timeout)
    }

    /// Stops the writer thread and flushes what is left; `true` when nothing is left.
    @discardableResult
    public func close(timeout: Duration = .seconds(2)) -> Bool {
        writer.stop(timeout: timeout)
    }

    public var stats: Stats { writer.stats }

    public func spendLogs(query: SpendLogQuery) throws(LedgerReadError) -> [SpendRow] {
        try reader.spendLogs(query: query)
    }

    public func dailyTotals(query: SpendLogQuery, perKey: Bool = true) throws(LedgerReadError) -> [DailyTotal] {
        try reader.dailyTotals(query: query, perKey: perKey)
    }

    /// What `keyAlias` spent since `since`; on the hosts `hosts` names.
    public func spendOf(keyAlias: String, since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> Double
    {
        try reader.spendOf(keyAlias: keyAlias, since: since, hosts: hosts)
    }

    /// What each key alias spent since `since`; on the hosts `hosts` names.
    public func spendByKeyAlias(since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> [String: Double]
    {
        try reader.spendByKeyAlias(since: since, hosts: hosts)
    }

    /// Requests and tokens of `keyAlias` since `since`; on the hosts `hosts` names.
    public func tokensOf(keyAlias: String, since: Double, hosts: HostScope = .all) throws(LedgerReadError)
        -> TokenTotals
    {
        try reader.tokensOf(keyAlias: keyAlias, since: since, hosts: hosts)
    }
}
