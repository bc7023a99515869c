internal import CLibPQ
import Foundation

/// What libpq or the server said when a call failed. Never holds the connection URL:
/// libpq's messages name the host and port, not the password.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public var description: String { message }
}

/// One libpq connection, used by one thread at a time (its owner holds a lock around
/// it). The only place the ledger calls libpq: every result is copied out and cleared
/// before a call returns, and the connection is finished when the value goes.
final class PostgresConnection {
    private let handle: OpaquePointer

    /// Settings libpq takes before the URL, so the URL's own query parameters win: a
    /// server that does not answer is given up on after 3 s (libpq is blocking, and
    /// the writer thread must come back to spool), and one that vanishes mid-write
    /// is noticed by keepalives and the TCP user timeout rather than never.
    static let defaults: [(String, String)] = [
        ("connect_timeout", "3"),
        ("keepalives", "1"),
        ("keepalives_idle", "5"),
        ("keepalives_interval", "2"),
        ("keepalives_count", "2"),
        ("tcp_user_timeout", "5000"),
        ("application_name", "fcgi-pass-through"),
    ]

    /// How long any one statement may run before the server cancels it.
    static let statementTimeoutMilliseconds = 5000

    /// Connects to `url` (a `postgresql://` URL or libpq connection string).
    init(url: String) throws(PostgresError) {
        let pairs = Self.defaults + [("dbname", url)]
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordList: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        let valueList: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        // expand_dbname = 1: the "dbname" value is read as a URL or connection string.
        guard let connection = PQconnectdbParams(keywordList, valueList, 1) else {
            throw PostgresError(message: "out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(message: message)
        }
        handle = connection
        // The server's notices (a table that already exists, ...) would go to stderr,
        // which is the gateway's log.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        try execute(
            "SET statement_timeout = \(Self.statementTimeoutMilliseconds); SET client_min_messages = warning; "
                + "SET TIME ZONE 'UTC'")
    }

    deinit {
        PQfinish(handle)
    }

    /// The connection is gone (the server went away): a new one is needed.
    var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// Runs `sql`; with `parameters`, as one statement whose `$n` are bound to them
    /// (text, `nil` for NULL) and never spliced into the SQL. Without, `sql` may hold
    /// several statements. The rows it returned, each column as text or `nil`.
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> [[String?]] {
        let result: OpaquePointer?
        if parameters.isEmpty {
            result = PQexec(handle, sql)
        } else {
            let copies = parameters.map { $0.map { strdup($0) } ?? nil }
            defer { copies.forEach { free($0) } }
            let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
            result = PQexecParams(handle, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
        }
        guard let result else { throw PostgresError(message: Self.trimmed(PQerrorMessage(handle))) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK:
            return []
        case PGRES_TUPLES_OK:
            let rows = PQntuples(result)
            let columns = PQnfields(result)
            return (0..<rows).map { row in
                (0..<columns).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            }
        default:
            throw PostgresError(message: Self.trimmed(PQresultErrorMessage(result)))
        }
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        // Multi-line messages ("connection to server at ... failed: ...\n\tIs the server
        // running ...") become one log field.
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: "; ")
    }
}
