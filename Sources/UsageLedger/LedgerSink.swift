import GatewayCore

/// Where the writer thread puts each batch: the host's SQLite file, or PostgreSQL with
/// the file as its spool. Reached by the writer thread only, one call at a time.
protocol LedgerSink: AnyObject {
    /// Makes `rows` durable (committed, or spooled to be replayed); throws when they are
    /// not, and the writer keeps them queued for a later tick.
    func write(_ rows: [SpendRow]) throws(LedgerWriteError)
    /// Upkeep once a tick, with or without rows queued (reconnecting, replaying).
    func maintain()
    /// The shared store's state, for metrics; `nil` when there is none.
    var health: SharedStoreHealth? { get }
}

/// Why a batch stayed queued: the fields of the writer's warning (the file or server,
/// never a password, and what it said).
struct LedgerWriteError: Error {
    var fields: [(String, String)]
}

/// Whether the writer reaches the shared store, how many rows it spooled while it did
/// not, and how many spooled rows it moved to the store since: read by the metrics thread
/// while the writer may be blocked in a write.
final class SharedStoreHealth: Sendable {
    private let state = Locked((up: false, spooled: 0, replayed: 0))

    var up: Bool {
        get { state.withLock { $0.up } }
        set { state.withLock { $0.up = newValue } }
    }

    var spooled: Int { state.withLock { $0.spooled } }

    func spooled(_ count: Int) {
        state.withLock { $0.spooled += count }
    }

    var replayed: Int { state.withLock { $0.replayed } }

    func replayed(_ count: Int) {
        state.withLock { $0.replayed += count }
    }
}

/// The host's SQLite file, written through one connection that is reopened after any
/// failure but a busy one (a read-only or replaced file needs a fresh open to recover).
final class SQLiteLedgerSink: LedgerSink {
    private let path: String
    private var connection: WriteConnection?
    /// Opens the write connection read-only when true: how tests stand in for a file
    /// the process may not write (root writes through a 0444 mode).
    private let readOnly: @Sendable () -> Bool

    init(path: String, connection: WriteConnection?, readOnly: @escaping @Sendable () -> Bool) {
        self.path = path
        self.connection = connection
        self.readOnly = readOnly
    }

    var health: SharedStoreHealth? { nil }

    func maintain() {}

    func write(_ rows: [SpendRow]) throws(LedgerWriteError) {
        do throws(SQLiteError) {
            if connection == nil { connection = try WriteConnection(path: path, readOnly: readOnly()) }
            try connection?.insert(rows)
        } catch {
            if !error.isBusy { connection = nil }
            throw LedgerWriteError(fields: [("path", path), ("error", error.description)])
        }
    }
}
