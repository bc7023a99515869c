import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import UsageLedger

/// The ledger in PostgreSQL (docs/SHARED_STATE.md, "The ledger in PostgreSQL"), against
/// a real server each test starts in a temporary directory: the schema and its
/// migration, the same answers as the SQLite ledger, and rows spooled while the server
/// is away arriving once, exactly once, when it is back.
@Suite(.serialized, .enabled(if: TestPostgres.available, "PostgreSQL server binaries are not installed"))
struct PostgresLedgerTests {
    typealias Base = SpendLedgerTests

    /// Rows of every shape the queries tell apart: several days, keys whose order
    /// differs between byte order and a locale's, a key-less row, no model, equal start
    /// times (ordered by request id), quotes and non-ASCII text, two hosts. Costs are
    /// binary fractions, so sums are exact in any order of addition.
    static let rows: [SpendRow] = {
        let day = 1_700_006_400.0  // 2023-11-15T00:00:00Z
        var rows: [SpendRow] = []
        let aliases = ["team-a", "Team-B", "_ops", "", "zeta", "é-key"]
        for i in 0..<60 {
            let alias = aliases[i % aliases.count]
            var row = Base.row(
                String(format: "req-%02d", i), start: day + Double(i / 3) * 7_000 - 20_000, alias: alias,
                route: i % 4 == 0 ? "/v1/rerank" : "anthropic", model: i % 5 == 0 ? nil : "m\(i % 3)",
                cost: Double(i % 7) / 8, input: i * 10, output: i)
            row.host = i % 2 == 0 ? "host-a" : "host-b"
            row.cacheReadTokens = i % 4
            row.partial = i % 9 == 0
            row.searchUnits = i % 2
            rows.append(row)
        }
        rows[7].model = "it's \"quoted\" \\ ünïcode"
        rows[8].requestID = "req-07b"
        return rows
    }()

    /// Polls until `condition` holds or `seconds` pass.
    static func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
        Base.eventually(within: seconds, condition)
    }

    static func count(_ url: String, _ sql: String) throws -> Int {
        let connection = try PostgresConnection(url: url)
        return Int(try connection.execute(sql).first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    // MARK: the same answers

    @Test func sqliteAndPostgresAnswerEveryQueryAlike() throws {
        let server = try TestPostgres()
        defer { server.close() }
        // A database whose collation is a language's, not bytes ("_ops" and "Team-B"
        // sort apart), as most installations have: the answers must not change.
        try PostgresConnection(url: server.url).execute(
            "CREATE DATABASE ledger TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
        let url = server.url(database: "ledger")
        try Base.withDirectory { directory in
            let local = try SpendLedger.open(path: directory + "/usage.db")
            let shared = try SpendLedger.open(path: directory + "/spool.db", databaseURL: url, hostID: "host-x")
            defer {
                local.close()
                shared.close()
            }
            for row in Self.rows {
                local.record(row)
                shared.record(row)
            }
            #expect(local.flush() && shared.flush())
            #expect(shared.stats.sharedStoreUp == true && shared.stats.spooledRows == 0)
            #expect(!FileManager.default.fileExists(atPath: directory + "/spool.db"), "no spool while the server answers")

            let day = 1_700_006_400.0
            let queries = [
                SpendLogQuery(pageSize: 1000), SpendLogQuery(pageSize: 7), SpendLogQuery(page: 3, pageSize: 7),
                SpendLogQuery(start: day, end: day + 86_400), SpendLogQuery(keyAlias: "Team-B"),
                SpendLogQuery(keyAlias: ""), SpendLogQuery(keyHash: "hash-zeta", pageSize: 3),
                SpendLogQuery(requestID: "req-07b"), SpendLogQuery(start: day + 1e9),
            ]
            for query in queries {
                let expected = try local.spendLogs(query: query)
                #expect(try shared.spendLogs(query: query) == expected, "\(query)")
                for perKey in [true, false] {
                    #expect(try shared.dailyTotals(query: query, perKey: perKey) == local.dailyTotals(query: query, perKey: perKey))
                }
            }
            #expect(try local.spendLogs(query: SpendLogQuery(pageSize: 1000)).count == Self.rows.count)
            // The JSON /spend/logs answers with, byte for byte.
            #expect(
                try DailyTotal.litellmSummary(shared.dailyTotals(query: SpendLogQuery())).encoded
                    == DailyTotal.litellmSummary(local.dailyTotals(query: SpendLogQuery())).encoded)
            #expect(
                try JSONValue.array(shared.spendLogs(query: SpendLogQuery()).map(\.litellmJSON)).encoded
                    == JSONValue.array(local.spendLogs(query: SpendLogQuery()).map(\.litellmJSON)).encoded)
            for since in [0, day, day + 50_000] {
                for hosts in [HostScope.all, .except("host-a"), .only("host-a")] {
                    let expected = try local.spendByKeyAlias(since: since, hosts: hosts)
                    #expect(try shared.spendByKeyAlias(since: since, hosts: hosts) == expected)
                    #expect(expected.count == (hosts == .all ? 6 : 3), "\(expected)")
                }
            }
            for alias in ["team-a", "Team-B", "", "nobody"] {
                for since in [0, day, day + 50_000] {
                    for hosts in [HostScope.all, .except("host-a"), .except("host-b"), .only("host-a"), .only("host-b")] {
                        let spend = try local.spendOf(keyAlias: alias, since: since, hosts: hosts)
                        #expect(try shared.spendOf(keyAlias: alias, since: since, hosts: hosts) == spend)
                        let tokens = try local.tokensOf(keyAlias: alias, since: since, hosts: hosts)
                        #expect(try shared.tokensOf(keyAlias: alias, since: since, hosts: hosts) == tokens)
                    }
                }
            }
            // The usage report: every grouping, with and without a start.
            let file = try SpendReader.open(path: directory + "/usage.db")
            let database = SpendReader.open(databaseURL: url)
            for grouping in UsageReport.Grouping.allCases {
                for since in [nil, day] {
                    let expected = try UsageReport.load(from: file, by: grouping, since: since)
                    #expect(try UsageReport.load(from: database, by: grouping, since: since) == expected)
                }
            }
        }
    }

    @Test func spendExcludingAHostSumsTheOtherHostsOnly() throws {
        try Base.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db", hostID: "here")
            defer { ledger.close() }
            ledger.record(Base.row("mine", cost: 1))
            var theirs = Base.row("theirs", cost: 2, input: 7)
            theirs.host = "there"
            ledger.record(theirs)
            #expect(ledger.flush())
            #expect(try Base.all(ledger).map(\.host).sorted() == ["here", "there"])
            #expect(try ledger.spendOf(keyAlias: "team-a", since: 0) == 3)
            #expect(try ledger.spendOf(keyAlias: "team-a", since: 0, hosts: .except("here")) == 2)
            #expect(try ledger.tokensOf(keyAlias: "team-a", since: 0, hosts: .except("there")).inputTokens == 10)
            #expect(try ledger.spendByKeyAlias(since: 0, hosts: .except("here")) == ["team-a": 2])
            #expect(try ledger.spendByKeyAlias(since: 0) == ["team-a": 3])
            #expect(try ledger.spendOf(keyAlias: "team-a", since: 0, hosts: .only("here")) == 1)
        }
    }

    // MARK: schema

    @Test func theSchemaIsCreatedOnceByProcessesStartingTogether() throws {
        let server = try TestPostgres()
        defer { server.close() }
        try Base.withDirectory { directory in
            let opened = Locked<[SpendLedger]>([])
            let url = server.url
            DispatchQueue.concurrentPerform(iterations: 4) { i in
                if let ledger = try? SpendLedger.open(path: directory + "/\(i).db", databaseURL: url) {
                    opened.withLock { $0.append(ledger) }
                }
            }
            let ledgers = opened.withLock { $0 }
            #expect(ledgers.count == 4)
            #expect(ledgers.allSatisfy { $0.stats.sharedStoreUp == true })
            #expect(try Self.count(server.url, "SELECT count(*) FROM fcgi_pass_through_schema") == 1)
            #expect(try Self.count(server.url, "SELECT max(version) FROM fcgi_pass_through_schema") == PostgresSchema.version)
            let columns = try PostgresConnection(url: server.url).execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'spend_logs' ORDER BY ordinal_position")
            #expect(columns.map { $0[0] ?? "" }.joined(separator: ", ") == LedgerSchema.columns)
            for ledger in ledgers { ledger.close() }
        }
    }

    @Test func anOlderSQLiteFileGainsTheHostColumnAndTheSpool() throws {
        try Base.withDirectory { directory in
            let path = directory + "/usage.db"
            do {
                let old = try SQLiteConnection(path: path, create: true)
                try old.execute(LedgerSchema.migrations[0])
                try old.execute(
                    "INSERT INTO spend_logs (request_id, start_time, end_time, route, method, status) "
                        + "VALUES ('old', 1, 2, '/v1/x', 'POST', 200); PRAGMA user_version = 1")
            }
            let ledger = try SpendLedger.open(path: path, hostID: "new-host")
            defer { ledger.close() }
            ledger.record(Base.row("new"))
            #expect(ledger.flush())
            #expect(try SQLiteConnection(path: path).integer("PRAGMA user_version") == LedgerSchema.version)
            let rows = try Base.all(ledger)
            #expect(rows.map(\.requestID) == ["new", "old"])
            #expect(rows.map(\.host) == ["new-host", ""])
            #expect(try SQLiteConnection(path: path).integer("SELECT count(*) FROM spool") == 0)
        }
    }

    // MARK: writing

    @Test func theInsertBindsEveryValueAsAParameter() throws {
        #expect(
            PostgresSchema.insert(count: 2).hasSuffix(
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19),"
                    + "($20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36,$37,$38) "
                    + "ON CONFLICT (request_id) DO NOTHING"))
        var row = Base.row("id'; DROP TABLE spend_logs; --", start: 1_700_000_000.125, model: nil, cost: 1e-7)
        row.host = "h"
        row.partial = true
        let values = PostgresSchema.parameters([row])
        #expect(values.count == LedgerSchema.columnCount)
        #expect(values[0] == "id'; DROP TABLE spend_logs; --")
        #expect(values[1] == "1700000000.125" && values[7] == nil && values[14] == "1e-07")
        #expect(values[16] == "true" && values[17] == "true" && values[18] == "h")
        #expect(!PostgresSchema.insert(count: 1).contains("DROP"))
    }

    @Test func rowsRoundTripExactlyWithHostilText() throws {
        let server = try TestPostgres()
        defer { server.close() }
        try Base.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db", databaseURL: server.url, hostID: "h1")
            defer { ledger.close() }
            var row = SpendRow(
                requestID: "x'); DELETE FROM spend_logs; --", startTime: 1_700_000_000.123456, endTime: 1_700_000_001.75,
                keyAlias: "a\"b", keyHash: String(repeating: "ab", count: 32), route: "r\\n", method: "POST",
                model: "m ✓", status: 206, inputTokens: 1 << 40, outputTokens: 340, cacheReadTokens: 1000,
                cacheWriteTokens: 77, searchUnits: 3, cost: 0.012_345_678_9, durationMs: 1625.5, partial: true,
                metered: true)
            ledger.record(row)
            ledger.record(SpendRow(requestID: "bare", startTime: 1, endTime: 1, route: "-", method: "GET", status: 404))
            // A NUL, at which libpq would cut the value, is stored as U+FFFD.
            ledger.record(SpendRow(requestID: "nul", startTime: 2, endTime: 2, route: "-", method: "POST", model: "a\u{0}b", status: 200))
            ledger.record(SpendRow(requestID: "after", startTime: 3, endTime: 3, route: "-", method: "POST", status: 200))
            #expect(ledger.flush())
            row.host = "h1"
            let read = try Base.all(ledger)
            #expect(read.count == 4)
            #expect(read.first { $0.requestID == "nul" }?.model == "a\u{FFFD}b")
            #expect(read.first == row)
            #expect(read.first { $0.requestID == "bare" }.map { $0.model == nil && $0.host == "h1" } == true)
        }
    }

    // MARK: the server away

    @Test func rowsSpoolWhileTheServerIsAwayAndArriveOnceWhenItIsBack() throws {
        let server = try TestPostgres()
        defer { server.close() }
        try Base.withDirectory { directory in
            let path = directory + "/usage.db"
            let ledger = try SpendLedger.open(path: path, databaseURL: server.url, hostID: "h")
            defer { ledger.close() }
            for i in 0..<50 { ledger.record(Base.row("before-\(i)")) }
            #expect(ledger.flush())
            server.stop()
            for i in 0..<1500 { ledger.record(Base.row("during-\(i)")) }
            // The server is away: rows go to the spool, nothing stays queued.
            #expect(ledger.flush())
            #expect(ledger.stats.pending == 0 && ledger.stats.sharedStoreUp == false)
            #expect(ledger.stats.spooledRows == 1500)
            #expect(try SQLiteConnection(path: path).integer("SELECT count(*) FROM spool") == 1500)
            // Reads fail plainly (503 in /spend/logs), at once.
            let started = ContinuousClock.now
            #expect(throws: LedgerReadError.self) { try ledger.spendLogs(query: SpendLogQuery()) }
            #expect(ContinuousClock.now - started < .seconds(1))
            // A row already in PostgreSQL and spooled again (a commit whose answer was
            // lost) is replayed as a no-op.
            do {
                let spool = try LedgerSpool(path: path)
                try spool.append([Base.row("before-3")])
            }
            try server.start()
            #expect(
                Self.eventually(within: 5) {
                    (try? SQLiteConnection(path: path).integer("SELECT count(*) FROM spool")) == 0
                })
            #expect(Self.eventually(within: 2) { ledger.stats.sharedStoreUp == true })
            #expect(try Self.count(server.url, "SELECT count(*) FROM spend_logs") == 1550)
            #expect(try Self.count(server.url, "SELECT count(DISTINCT request_id) FROM spend_logs") == 1550)
            #expect(ledger.stats.writeFailures == 0 && ledger.stats.droppedRows == 0)
        }
    }

    /// An idle gateway notices too: the gauge follows the server without any request.
    @Test func anIdleWriterNoticesTheServerAwayAndReadsReconnect() throws {
        let server = try TestPostgres()
        defer { server.close() }
        try Base.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db", databaseURL: server.url)
            defer { ledger.close() }
            ledger.record(Base.row("r"))
            #expect(ledger.flush())
            #expect(try ledger.spendOf(keyAlias: "team-a", since: 0) == 0.002)
            server.stop()
            #expect(Self.eventually(within: 3) { ledger.stats.sharedStoreUp == false })
            try server.start()
            #expect(try ledger.spendOf(keyAlias: "team-a", since: 0) == 0.002)
            #expect(Self.eventually(within: 3) { ledger.stats.sharedStoreUp == true })
        }
    }

    @Test func aServerAwayAtStartDelaysRowsButNotTheStart() throws {
        let server = try TestPostgres()
        defer { server.close() }
        server.stop()
        try Base.withDirectory { directory in
            let path = directory + "/usage.db"
            let opened = ContinuousClock.now
            let ledger = try SpendLedger.open(path: path, databaseURL: server.url, hostID: "h")
            defer { ledger.close() }
            #expect(ContinuousClock.now - opened < .seconds(2))
            #expect(ledger.stats.sharedStoreUp == false)
            for i in 0..<20 { ledger.record(Base.row("r\(i)")) }
            #expect(Self.eventually(within: 2) { ledger.stats.spooledRows == 20 })
            try server.start()
            // The schema is created when the server first answers, then the spool replayed.
            #expect(
                Self.eventually(within: 5) {
                    (try? Self.count(server.url, "SELECT count(*) FROM spend_logs")) == 20
                })
            #expect(Self.eventually(within: 2) { (try? ledger.spendLogs(query: SpendLogQuery()).count) == 20 })
        }
    }
}
