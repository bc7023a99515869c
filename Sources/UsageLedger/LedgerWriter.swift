import Dispatch
import Foundation
import GatewayCore
import GatewayCrypto
import Operations

/// The ledger's write side: a bounded in-memory queue that `record` appends to, and one
/// thread that empties it into the store (`LedgerSink`) every 250 ms, a batch per
/// transaction. Requests never wait for the database; a store that cannot be written
/// (locked, full, read-only, unreachable and its spool too) only leaves rows queued
/// (counted, warned about) until a later tick writes them.
final class LedgerWriter: Sendable {
    /// How often the thread writes: a SIGKILL loses at most this much plus one batch.
    static let interval = Duration.milliseconds(250)
    /// Rows per transaction: large enough to amortise the commit, small enough that
    /// holding the write lock never starves another process for long.
    static let batchSize = 1000

    private let state: Locked<(queue: RowQueue, stats: SpendLedger.Stats)>
    /// Where batches go; its lock is held while one is written.
    private let sink: Locked<any LedgerSink>
    /// The shared store's state, read without waiting for a write in progress.
    private let health: SharedStoreHealth?
    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private let stopping = Locked(false)
    private let warning: ThrottledWarning?

    init(sink: any LedgerSink, capacity: Int, logger: Logger?) {
        self.state = Locked((RowQueue(capacity: capacity), SpendLedger.Stats()))
        self.health = sink.health
        self.sink = Locked(sink)
        self.warning = logger.map {
            ThrottledWarning(
                "spend ledger: cannot write, rows stay queued and are retried", logger: $0, interval: .seconds(60))
        }
    }

    func start() {
        let thread = Thread { [self] in
            while !stopping.withLock({ $0 }) {
                _ = wake.wait(timeout: .now() + .milliseconds(Int(Self.interval.seconds * 1000)))
                maintain()
                _ = writePending()
            }
            OpenSSLThread.releaseState()  // libpq's password exchange used it on this thread
            exited.signal()
        }
        thread.name = "spend-ledger"
        thread.start()
    }

    /// The sink's own upkeep, once a tick whether rows are queued or not: reconnecting
    /// to a shared store and replaying its spool.
    func maintain() {
        sink.withLock { $0.maintain() }
    }

    func record(_ row: SpendRow) {
        state.withLock { state in
            state.stats.droppedRows += state.queue.append(row)
        }
    }

    var stats: SpendLedger.Stats {
        var stats = state.withLock { state in
            var stats = state.stats
            stats.pending = state.queue.count
            return stats
        }
        if let health {
            stats.sharedStoreUp = health.up
            stats.spooledRows = health.spooled
            stats.replayedRows = health.replayed
        }
        return stats
    }

    /// Writes until the queue is empty (`true`) or a write fails (`false`, the batch back
    /// in the queue).
    func writePending() -> Bool {
        sink.withLock { sink in
            while true {
                let batch = state.withLock { $0.queue.take(Self.batchSize) }
                if batch.isEmpty { return true }
                do throws(LedgerWriteError) {
                    try sink.write(batch)
                    state.withLock { $0.stats.writtenRows += batch.count }
                } catch {
                    let pending = state.withLock { state in
                        state.stats.writeFailures += 1
                        state.stats.droppedRows += state.queue.putBack(batch)
                        return state.queue.count
                    }
                    warning?.note(error.fields + [("pending", String(pending))])
                    return false
                }
            }
        }
    }

    /// Writes what is queued now, retrying until `timeout`: `true` when nothing is left.
    func flush(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if writePending() { return true }
            if ContinuousClock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Stops the thread (it finishes its current batch), then flushes what is left.
    func stop(timeout: Duration) -> Bool {
        let first = stopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        if first {
            wake.signal()
            _ = exited.wait(timeout: .now() + .milliseconds(Int(timeout.seconds * 1000)))
        }
        return flush(timeout: timeout)
    }
}

/// A write connection and its prepared insert into `spend_logs` (or the spool).
final class WriteConnection {
    let connection: SQLiteConnection
    private let statement: SQLiteStatement
    /// The text columns of the row being inserted, bound where they lie here (kept, with
    /// its capacity, from row to row).
    private var texts: [UInt8] = []

    /// Opens `path` for writing; `readOnly` opens it as a file the process may not write.
    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        connection = try SQLiteConnection(path: path, readOnly: readOnly)
        try Self.configure(connection, busyMilliseconds: 50)
        statement = try connection.prepare(LedgerSchema.insert)
    }

    /// Adopts an open connection (the one that just migrated the file), inserting into
    /// `table`.
    init(_ connection: SQLiteConnection, table: String = "spend_logs", busyMilliseconds: Int32 = 50)
        throws(SQLiteError)
    {
        self.connection = connection
        try Self.configure(connection, busyMilliseconds: busyMilliseconds)
        statement = try connection.prepare(LedgerSchema.insertSQL(into: table))
    }

    /// A short busy timeout: the writer retries on its next tick rather than wait.
    /// `synchronous=NORMAL` in WAL mode: a commit survives a process crash, and only a
    /// power loss can take back the last ones.
    private static func configure(_ connection: SQLiteConnection, busyMilliseconds: Int32) throws(SQLiteError) {
        connection.setBusyTimeout(milliseconds: busyMilliseconds)
        try connection.execute("PRAGMA synchronous = NORMAL")
    }

    /// One transaction; `INSERT OR IGNORE` skips a request id already there.
    func insert(_ rows: [SpendRow]) throws(SQLiteError) {
        try connection.execute("BEGIN IMMEDIATE")
        do throws(SQLiteError) {
            for row in rows {
                statement.resetKeepingBindings()
                try LedgerSchema.insert(row, with: statement, texts: &texts)
            }
            // Nothing bound may point into `texts` once the batch is done.
            statement.reset()
            try connection.execute("COMMIT")
        } catch {
            statement.reset()
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
