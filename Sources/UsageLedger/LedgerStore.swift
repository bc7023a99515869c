import GatewayCore

/// Why the ledger could not be read (a locked or missing file, a database server that
/// cannot be reached). Its text names the file or server, never a password.
public struct LedgerReadError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A database the ledger's rows are read from: the host's SQLite file or the shared
/// PostgreSQL. `SpendReader` writes each query once, in terms of a `SQLDialect`; a store
/// only runs it. Used by one thread at a time (the reader holds a lock around it).
protocol LedgerStore: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs `sql` with `values` bound to its parameters, handing each row to `each`.
    func query(_ sql: String, _ values: [SQLValue], _ each: (any LedgerResultRow) -> Void) throws(LedgerReadError)
}

/// One result row, columns by 0-based index.
protocol LedgerResultRow {
    func text(_ column: Int32) -> String?
    func double(_ column: Int32) -> Double
    func int(_ column: Int32) -> Int
    func bool(_ column: Int32) -> Bool
}

/// Where SQLite's and PostgreSQL's SQL differ in the ledger's queries. Each query keeps
/// one text; only these pieces change, so both stores answer the same question the
/// same way (SpendStoreParityTests compares them row for row).
enum SQLDialect: Sendable {
    case sqlite, postgres

    /// The `number`th (from 1) parameter.
    func parameter(_ number: Int) -> String {
        self == .sqlite ? "?" : "$\(number)"
    }

    /// The UTC day of a Unix-seconds column, as `YYYY-MM-DD`.
    func day(_ column: String) -> String {
        switch self {
        case .sqlite: "date(\(column), 'unixepoch')"
        case .postgres: "to_char(to_timestamp(\(column)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        }
    }

    /// A sum that is 0, not NULL, over no rows (SQLite's `total`).
    func total(_ expression: String) -> String {
        self == .sqlite ? "total(\(expression))" : "coalesce(sum(\(expression)), 0)"
    }

    /// Text ordered byte by byte, as SQLite does, whatever the PostgreSQL database's
    /// collation: the same rows come back in the same order from either store.
    func bytewise(_ expression: String) -> String {
        self == .sqlite ? expression : "(\(expression)) COLLATE \"C\""
    }
}

extension SQLiteStatement: LedgerResultRow {}

/// The host's SQLite file as a store to read.
final class SQLiteLedgerStore: LedgerStore {
    let connection: SQLiteConnection
    let path: String
    var dialect: SQLDialect { .sqlite }

    init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    func query(_ sql: String, _ values: [SQLValue], _ each: (any LedgerResultRow) -> Void) throws(LedgerReadError) {
        do throws(SQLiteError) {
            let statement = try connection.prepare(sql)
            SQLValue.bind(values, to: statement)
            while try statement.step() { each(statement) }
        } catch {
            throw LedgerReadError("\(path): \(error)")
        }
    }
}

/// The shared PostgreSQL as a store to read: one connection, opened when first asked
/// and again after it breaks. A server that cannot be reached is not asked again for a
/// second, so `/spend/logs` answers 503 at once rather than wait out a connect timeout
/// per request.
final class PostgresLedgerStore: LedgerStore {
    let url: String
    private var connection: PostgresConnection?
    private var lastFailure: ContinuousClock.Instant?
    var dialect: SQLDialect { .postgres }

    init(url: String) {
        self.url = url
    }

    func query(_ sql: String, _ values: [SQLValue], _ each: (any LedgerResultRow) -> Void) throws(LedgerReadError) {
        let parameters = values.map(\.postgresText)
        do throws(PostgresError) {
            let rows: [[String?]]
            do throws(PostgresError) {
                rows = try connected().execute(sql, parameters)
            } catch  where connection?.isBroken == true {
                // The server restarted since the last read: one fresh connection, now.
                connection = nil
                rows = try connected().execute(sql, parameters)
            }
            for row in rows { each(PostgresRow(values: row)) }
        } catch {
            if connection?.isBroken ?? true {
                connection = nil
                lastFailure = .now
            }
            throw LedgerReadError("\(PostgresURL.redacted(url)): \(error)")
        }
    }

    private func connected() throws(PostgresError) -> PostgresConnection {
        if let connection { return connection }
        if let lastFailure, ContinuousClock.now - lastFailure < .seconds(1) {
            throw PostgresError(message: "not reachable (last tried under a second ago)")
        }
        let fresh = try PostgresConnection(url: url)
        connection = fresh
        return fresh
    }
}

/// A PostgreSQL result row (text format).
struct PostgresRow: LedgerResultRow {
    let values: [String?]

    func text(_ column: Int32) -> String? { values[Int(column)] }
    func double(_ column: Int32) -> Double { text(column).flatMap { Double($0) } ?? 0 }
    func int(_ column: Int32) -> Int {
        guard let text = text(column) else { return 0 }
        // Sums of integers come back as numeric text, `total`-like sums maybe as floats.
        return Int(text) ?? Double(text).map { Int($0) } ?? 0
    }
    func bool(_ column: Int32) -> Bool { text(column) == "t" }
}

extension SQLValue {
    /// The parameter's text for libpq: doubles in Swift's shortest form that reads back
    /// exactly (PostgreSQL parses it the same way).
    var postgresText: String {
        switch self {
        case .text(let text): text
        case .real(let number): "\(number)"
        case .integer(let number): String(number)
        }
    }
}
