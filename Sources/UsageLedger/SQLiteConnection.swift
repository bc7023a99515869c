internal import CSQLite
import Foundation

/// What SQLite said when a call failed: its result code and message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary result code (`SQLITE_BUSY`, `SQLITE_READONLY`, ...).
    public var code: Int32
    public var message: String

    public var description: String { "\(message) (sqlite \(code))" }

    /// Another connection holds the write lock: the same write may succeed later.
    var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
}

/// One SQLite connection, used by one thread at a time (its owner holds a lock around
/// it). Thin on purpose: only what the ledger needs, and no C type in its API.
final class SQLiteConnection {
    private let handle: OpaquePointer

    /// Opens `path`; `create` also makes the file. A read-only connection never writes
    /// to the database (nor migrates it).
    init(path: String, readOnly: Bool = false, create: Bool = false) throws(SQLiteError) {
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        // Each connection is reached under its owner's lock: SQLite's own mutex would
        // only be taken twice.
        flags |= SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: code & 0xFF, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 0)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// How long a statement waits for another connection's lock before failing busy.
    func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Runs one or more statements that return no rows the caller needs.
    func execute(_ sql: String) throws(SQLiteError) {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw error(code) }
    }

    func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code) }
        return SQLiteStatement(statement, connection: self)
    }

    /// The integer the first column of the first row holds (`PRAGMA user_version`).
    func integer(_ sql: String) throws(SQLiteError) -> Int {
        let statement = try prepare(sql)
        guard try statement.step() else { return 0 }
        return statement.int(0)
    }

    /// The text the first column of the first row holds (`PRAGMA journal_mode=WAL`).
    func text(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    fileprivate func error(_ code: Int32) -> SQLiteError {
        SQLiteError(code: code & 0xFF, message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// A prepared statement: bind by 1-based index, step, read columns by 0-based index.
final class SQLiteStatement {
    private let handle: OpaquePointer
    private let connection: SQLiteConnection
    /// SQLite copies bound text (`SQLITE_TRANSIENT`): the Swift string need not outlive the call.
    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

    fileprivate init(_ handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(handle)
    }

    func bind(_ index: Int32, _ value: Int) {
        sqlite3_bind_int64(handle, index, Int64(value))
    }

    func bind(_ index: Int32, _ value: Double) {
        sqlite3_bind_double(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Bool) {
        sqlite3_bind_int64(handle, index, value ? 1 : 0)
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value {
            // A native string's bytes with their length: passed as a C string, each value
            // is first copied into an array of its own.
            let bound = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
                guard let text = UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self) else { return false }
                sqlite3_bind_text(handle, index, text, Int32(bytes.count), Self.transient)
                return true
            }
            if bound != true { sqlite3_bind_text(handle, index, value, -1, Self.transient) }
        } else {
            sqlite3_bind_null(handle, index)
        }
    }

    /// Advances to the next row: `true` when there is one, `false` when done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw connection.error(code)
        }
    }

    /// Ready to run again with new bindings.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Ready to run again, keeping its bindings: for a caller that binds every parameter
    /// anew before each step (clearing 19 of them cost about what binding them does).
    func resetKeepingBindings() {
        sqlite3_reset(handle)
    }

    /// Binds text that SQLite reads where it lies (`SQLITE_STATIC`) instead of copying it
    /// into an allocation of its own: the bytes must stay in place until the statement
    /// has stepped, and the parameter must be bound again (or cleared) before they move.
    func bind(_ index: Int32, inPlace text: UnsafeBufferPointer<UInt8>) {
        // An empty value still needs a pointer: a null one would bind NULL.
        let start = text.isEmpty ? UnsafeRawPointer(Self.empty.utf8Start) : UnsafeRawPointer(text.baseAddress!)
        sqlite3_bind_text(handle, index, start.assumingMemoryBound(to: CChar.self), Int32(text.count), nil)
    }

    private static let empty: StaticString = ""

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }
    func bool(_ column: Int32) -> Bool { sqlite3_column_int64(handle, column) != 0 }

    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: bytes)
    }
}
