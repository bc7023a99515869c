import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import UsageLedger

/// The spend ledger (docs/USAGE.md, "The ledger"): schema, writing off the request path,
/// reading back, failure behaviour, LiteLLM's shapes and the `usage` report.
@Suite struct SpendLedgerTests {
    /// A fresh directory, removed when `body` returns.
    static func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try body(directory)
    }

    static func row(
        _ id: String, start: Double = 1_700_000_000, alias: String = "team-a", route: String = "/v1/rerank",
        model: String? = "rerank-v3", cost: Double = 0.002, input: Int = 10, output: Int = 5
    ) -> SpendRow {
        SpendRow(
            requestID: id, startTime: start, endTime: start + 0.5, keyAlias: alias,
            keyHash: alias.isEmpty ? "" : "hash-\(alias)", route: route, method: "POST", model: model, status: 200,
            inputTokens: input, outputTokens: output, cost: cost, durationMs: 500, metered: true)
    }

    /// Polls `condition` until it holds or `seconds` pass.
    static func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return try condition()
    }

    /// A ledger whose writer opens the file read-only while `readOnly` holds: the failure
    /// a file the process may not write gives (root writes through a 0444 mode).
    static func openWriterReadOnly(_ path: String, while readOnly: Locked<Bool>, capacity: Int) throws -> SpendLedger {
        try SpendLedger.open(path: path, logger: nil, queueCapacity: capacity, writerReadOnly: { readOnly.withLock { $0 } })
    }

    static func all(_ ledger: SpendLedger) throws -> [SpendRow] {
        try ledger.spendLogs(query: SpendLogQuery(pageSize: SpendLogQuery.maxPageSize))
    }

    // MARK: schema

    @Test func openingCreatesTheVersionedSchemaInWALMode() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let ledger = try SpendLedger.open(path: path)
            defer { ledger.close() }
            let connection = try SQLiteConnection(path: path)
            #expect(try connection.integer("PRAGMA user_version") == LedgerSchema.version)
            #expect(try connection.text("PRAGMA journal_mode") == "wal")
            let columns = try connection.prepare("SELECT name FROM pragma_table_info('spend_logs') ORDER BY cid")
            var names: [String] = []
            while try columns.step() { names.append(columns.text(0) ?? "") }
            #expect(names.joined(separator: ", ") == LedgerSchema.columns)
            let indexes = try connection.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spend_logs' AND sql IS NOT NULL "
                    + "ORDER BY name")
            var indexNames: [String] = []
            while try indexes.step() { indexNames.append(indexes.text(0) ?? "") }
            #expect(indexNames == ["spend_logs_key_alias", "spend_logs_time_request"])
            // No index of SQLite's own: the request id is not the key (see LedgerSchema v3).
            #expect(try connection.integer("SELECT count(*) FROM sqlite_master WHERE tbl_name = 'spend_logs' AND sql IS NULL") == 0)
        }
    }

    /// A file of schema version 2 (`request_id` the key) is rebuilt at start: every row
    /// kept as it was, replays still ignored, and the listing's order unchanged.
    @Test func aVersion2FileIsRebuiltWithEveryRow() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let before = (0..<300).map { Self.row("r\($0)", start: 1_700_000_000 + Double($0 % 7), cost: Double($0)) }
            do {
                let old = try SQLiteConnection(path: path, create: true)
                for migration in LedgerSchema.migrations.prefix(2) { try old.execute(migration) }
                try old.execute("PRAGMA user_version = 2")
                let insert = try old.prepare(LedgerSchema.insert)
                var texts: [UInt8] = []
                for row in before {
                    try LedgerSchema.insert(row, with: insert, texts: &texts)
                    insert.reset()
                }
            }
            let ledger = try SpendLedger.open(path: path)
            defer { ledger.close() }
            #expect(try SQLiteConnection(path: path).integer("PRAGMA user_version") == LedgerSchema.version)
            let rows = try Self.all(ledger)
            #expect(rows.count == before.count)
            for row in rows { #expect(row == before.first { $0.requestID == row.requestID }) }
            // Newest first, ties by request id (bytes, descending), as before the rebuild.
            let newestFirst = before.sorted { a, b in
                a.startTime != b.startTime
                    ? a.startTime > b.startTime : Array(b.requestID.utf8).lexicographicallyPrecedes(Array(a.requestID.utf8))
            }
            #expect(rows.map(\.requestID) == newestFirst.map(\.requestID))
            ledger.record(before[5])
            #expect(ledger.flush())
            #expect(try Self.all(ledger).count == before.count)
        }
    }

    @Test func twoOpenersAtOnceMigrateOnceAndBothWrite() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let opened = Locked<[Result<SpendLedger, SpendLedgerError>]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                let result = Result { () throws(SpendLedgerError) in try SpendLedger.open(path: path) }
                opened.withLock { $0.append(result) }
            }
            let ledgers = try opened.withLock { $0 }.map { try $0.get() }
            #expect(ledgers.count == 2)
            for (index, ledger) in ledgers.enumerated() { ledger.record(Self.row("r\(index)")) }
            for ledger in ledgers { #expect(ledger.flush()) }
            // A third opener of the migrated file finds nothing to do.
            let third = try SpendLedger.open(path: path)
            #expect(try Self.all(third).map(\.requestID).sorted() == ["r0", "r1"])
            #expect(try SQLiteConnection(path: path).integer("PRAGMA user_version") == LedgerSchema.version)
            for ledger in ledgers + [third] { ledger.close() }
        }
    }

    /// Several instances' processes start at once on a new file: SQLite answers some of
    /// them "busy" without waiting while another switches the file to WAL.
    @Test func manyOpenersOfANewFileAtOnceAllStart() throws {
        for attempt in 0..<10 {
            try Self.withDirectory { directory in
                let path = directory + "/usage-\(attempt).db"
                let failures = Locked<[String]>([])
                let ledgers = Locked<[SpendLedger]>([])
                DispatchQueue.concurrentPerform(iterations: 8) { _ in
                    do {
                        let ledger = try SpendLedger.open(path: path)
                        ledgers.withLock { $0.append(ledger) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
                #expect(failures.withLock { $0 } == [])
                for ledger in ledgers.withLock({ $0 }) { ledger.close() }
            }
        }
    }

    @Test func aMissingDirectoryIsAClearError() {
        do {
            _ = try SpendLedger.open(path: "/nonexistent-ledger/usage.db")
            Issue.record("opened a ledger in a missing directory")
        } catch {
            guard case .missingDirectory(let directory) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(directory == "/nonexistent-ledger")
            #expect(error.description == "the directory /nonexistent-ledger does not exist")
        }
    }

    @Test func theDefaultPathFollowsSystemdsStateDirectory() {
        #expect(SpendLedger.defaultPath(environment: Environment(["STATE_DIRECTORY": "/var/lib/gw"])) == "/var/lib/gw/usage.db")
        #expect(SpendLedger.defaultPath(environment: Environment(["STATE_DIRECTORY": "/var/lib/a:/var/lib/b"])) == "/var/lib/a/usage.db")
        #expect(SpendLedger.defaultPath(environment: Environment()) == "usage.db")
    }

    // MARK: writing

    @Test func aRecordedRowReadsBackExactly() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            let row = SpendRow(
                requestID: "call-1", startTime: 1_700_000_000.125, endTime: 1_700_000_001.75, keyAlias: "search",
                keyHash: String(repeating: "ab", count: 32), route: "anthropic", method: "POST", model: "claude-x",
                status: 206, inputTokens: 1200, outputTokens: 340, cacheReadTokens: 1000, cacheWriteTokens: 77,
                searchUnits: 3, cost: 0.012_345_678, durationMs: 1625.5, partial: true, metered: true)
            let bare = SpendRow(
                requestID: "call-2", startTime: 1_600_000_000, endTime: 1_600_000_000, route: "-", method: "GET", status: 404)
            ledger.record(row)
            ledger.record(bare)
            #expect(ledger.flush())
            #expect(try Self.all(ledger) == [row, bare])
            var expected = SpendLedger.Stats()
            expected.writtenRows = 2
            #expect(ledger.stats == expected)
        }
    }

    /// Rows of one batch share the buffer their text columns are bound from: each must
    /// read back with its own texts, whatever the lengths around it.
    @Test func textsOfRowsInOneBatchStayTheirOwn() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            let models: [String?] = [nil, "", "m", "claude-sonnet-4-5-20250929-with-a-long-name", "modèle-é\u{301}", "\u{0}x"]
            let rows = (0..<120).map { index in
                SpendRow(
                    requestID: "r-\(String(repeating: "x", count: index % 40))-\(index)", startTime: 1_700_000_000 + Double(index),
                    endTime: 1_700_000_001, keyAlias: index % 3 == 0 ? "" : "alias-\(index)",
                    keyHash: index % 3 == 0 ? "" : String(repeating: "f", count: 64), route: "/route/\(index % 5)",
                    method: index % 2 == 0 ? "POST" : "GET", model: models[index % models.count].map(SpendRow.storable),
                    status: 200)
            }
            for row in rows { ledger.record(row) }
            #expect(ledger.flush())
            let read = try Self.all(ledger)
            #expect(read.count == rows.count)
            for row in read { #expect(row == rows.first { $0.requestID == row.requestID }) }
        }
    }

    @Test func aReplayedRequestIDIsIgnored() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            ledger.record(Self.row("same", cost: 1))
            #expect(ledger.flush())
            ledger.record(Self.row("same", cost: 2))
            ledger.record(Self.row("same", cost: 3))
            #expect(ledger.flush())
            #expect(try Self.all(ledger).map(\.cost) == [1])
        }
    }

    @Test func theWriterFlushesWithinASecondUnasked() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            ledger.record(Self.row("unasked"))
            #expect(try Self.eventually(within: 1) { try Self.all(ledger).count == 1 })
        }
    }

    // MARK: reading

    @Test func filtersAndPagesNewestFirst() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            for i in 0..<25 {
                ledger.record(Self.row(String(format: "r%02d", i), start: 1_700_000_000 + Double(i), alias: i % 2 == 0 ? "a" : "b"))
            }
            #expect(ledger.flush())
            #expect(try Self.all(ledger).map(\.requestID).first == "r24")
            let a = try ledger.spendLogs(query: SpendLogQuery(keyAlias: "a"))
            #expect(a.count == 13 && a.allSatisfy { $0.keyAlias == "a" })
            #expect(a.map(\.startTime) == a.map(\.startTime).sorted(by: >))
            let page2 = try ledger.spendLogs(query: SpendLogQuery(page: 2, pageSize: 5))
            #expect(page2.map(\.requestID) == ["r19", "r18", "r17", "r16", "r15"])
            let page6 = try ledger.spendLogs(query: SpendLogQuery(page: 6, pageSize: 5))
            #expect(page6.isEmpty)
            let span = try ledger.spendLogs(query: SpendLogQuery(start: 1_700_000_010, end: 1_700_000_013))
            #expect(span.map(\.requestID) == ["r12", "r11", "r10"])
            let byHash = try ledger.spendLogs(query: SpendLogQuery(keyHash: "hash-b", pageSize: 2))
            #expect(byHash.map(\.requestID) == ["r23", "r21"])
            #expect(try ledger.spendLogs(query: SpendLogQuery(requestID: "r07")).map(\.requestID) == ["r07"])
            #expect(SpendLogQuery(pageSize: 5000).limit == 1000)
            #expect(SpendLogQuery(page: 0, pageSize: 0).offset == 0)
        }
    }

    @Test func dailyTotalsSumPerUTCDayAndKey() throws {
        try Self.withDirectory { directory in
            let ledger = try SpendLedger.open(path: directory + "/usage.db")
            defer { ledger.close() }
            let day1 = 1_700_006_400.0  // 2023-11-15T00:00:00Z
            ledger.record(Self.row("1", start: day1 - 1, alias: "a", cost: 1, input: 1, output: 2))  // 2023-11-14
            ledger.record(Self.row("2", start: day1, alias: "a", model: "m1", cost: 2, input: 10, output: 20))
            ledger.record(Self.row("3", start: day1 + 100, alias: "a", model: "m2", cost: 4, input: 100, output: 200))
            ledger.record(Self.row("4", start: day1 + 200, alias: "b", model: nil, cost: 8, input: 1000, output: 2000))
            #expect(ledger.flush())
            let perKey = try ledger.dailyTotals(query: SpendLogQuery())
            #expect(
                perKey.map { "\($0.day) \($0.keyAlias ?? "*") \($0.spend) \($0.tokens.requests)" } == [
                    "2023-11-14 a 1.0 1", "2023-11-15 a 6.0 2", "2023-11-15 b 8.0 1",
                ])
            #expect(perKey[1].models == ["m1": 2, "m2": 4])
            #expect(perKey[1].tokens == TokenTotals(requests: 2, inputTokens: 110, outputTokens: 220))
            let all = try ledger.dailyTotals(query: SpendLogQuery(start: day1), perKey: false)
            #expect(all.count == 1)
            #expect(all[0].keyAlias == nil && all[0].spend == 14 && all[0].tokens.inputTokens == 1110)
            #expect(all[0].keys == ["hash-a": 6, "hash-b": 8])
            #expect(all[0].models == ["m1": 2, "m2": 4, "": 8])
            #expect(try ledger.spendOf(keyAlias: "a", since: day1) == 6)
            #expect(try ledger.spendOf(keyAlias: "a", since: 0) == 7)
            #expect(try ledger.spendOf(keyAlias: "nobody", since: 0) == 0)
            #expect(try ledger.tokensOf(keyAlias: "b", since: 0) == TokenTotals(requests: 1, inputTokens: 1000, outputTokens: 2000))
            #expect(
                DailyTotal.litellmSummary(all).encoded
                    == #"[{"startTime":"2023-11-15","spend":14,"hash-a":6,"hash-b":8,"models":{"":8,"m1":2,"m2":4},"users":{}}]"#)
        }
    }

    // MARK: failures

    @Test func aLockedDatabaseNeitherBlocksRecordNorLosesRows() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let ledger = try SpendLedger.open(path: path)
            defer { ledger.close() }
            let holder = try SQLiteConnection(path: path)
            try holder.execute("BEGIN EXCLUSIVE")
            ledger.record(Self.row("locked-0"))
            // The writer is retrying: each attempt waits out its 50 ms busy timeout.
            #expect(Self.eventually(within: 2) { ledger.stats.writeFailures >= 1 })
            var durations: [Duration] = []
            for i in 1..<300 {  // about 0.7 s: several attempts overlap the calls
                durations.append(ContinuousClock().measure { ledger.record(Self.row("locked-\(i)")) })
                Thread.sleep(forTimeInterval: 0.002)
            }
            durations.sort()
            #expect(durations[durations.count / 2] < .milliseconds(1))
            // A call that waited for the writer would wait out most of a busy timeout.
            #expect(durations[durations.count - 1] < .milliseconds(25))
            #expect(ledger.stats.writeFailures >= 2)
            #expect(!ledger.flush(timeout: .milliseconds(100)))
            #expect(try Self.all(ledger).isEmpty)
            try holder.execute("COMMIT")
            #expect(try Self.eventually(within: 1.5) { try Self.all(ledger).count == 300 })
            #expect(ledger.stats.pending == 0 && ledger.stats.droppedRows == 0)
        }
    }

    @Test func aReadOnlyDatabaseIsCountedAndRecoversWhenWritable() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let readOnly = Locked(true)
            let ledger = try Self.openWriterReadOnly(path, while: readOnly, capacity: 100)
            defer { ledger.close() }
            ledger.record(Self.row("ro-1"))
            ledger.record(Self.row("ro-2"))
            #expect(!ledger.flush(timeout: .milliseconds(50)))
            #expect(Self.eventually(within: 1) { ledger.stats.writeFailures >= 2 })
            #expect(Self.eventually(within: 1) { ledger.stats.pending == 2 })
            #expect(try Self.all(ledger).isEmpty)
            readOnly.withLock { $0 = false }
            #expect(try Self.eventually(within: 1) { try Self.all(ledger).count == 2 })
            #expect(ledger.stats.pending == 0 && ledger.stats.droppedRows == 0)
        }
    }

    /// The same with real permissions: a file made read-only before the ledger opened it.
    /// Root writes through a 0444 mode, so this runs only as another user.
    @Test(.enabled(if: getuid() != 0, "root writes through file modes"))
    func aFileWithoutWritePermissionIsCountedAndRecoversWhenWritable() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            try SpendLedger.open(path: path).close()
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
            let ledger = try SpendLedger.open(path: path)
            defer { ledger.close() }
            ledger.record(Self.row("perm-1"))
            #expect(!ledger.flush(timeout: .milliseconds(50)))
            #expect(ledger.stats.writeFailures >= 1)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            #expect(try Self.eventually(within: 1) { try Self.all(ledger).count == 1 })
        }
    }

    @Test func aFullQueueDropsTheOldestAndCountsThem() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let readOnly = Locked(true)
            let ledger = try Self.openWriterReadOnly(path, while: readOnly, capacity: 10)
            defer { ledger.close() }
            for i in 0..<25 { ledger.record(Self.row(String(format: "q%02d", i))) }
            // A batch the writer holds is counted when it goes back: wait for a quiet moment.
            #expect(Self.eventually(within: 1) { ledger.stats.droppedRows == 15 && ledger.stats.pending == 10 })
            readOnly.withLock { $0 = false }
            #expect(ledger.flush())
            #expect(try Self.all(ledger).map(\.requestID).sorted() == (15..<25).map { String(format: "q%02d", $0) })
            #expect(ledger.stats.droppedRows == 15)
        }
    }

    @Test func theQueuePutsAFailedBatchBackInOrder() {
        var queue = RowQueue(capacity: 4)
        for i in 0..<3 { #expect(queue.append(Self.row("\(i)")) == 0) }
        let batch = queue.take(2)
        #expect(queue.append(Self.row("3")) == 0)
        #expect(queue.append(Self.row("4")) == 0)
        #expect(queue.putBack(batch) == 1)  // room for one of the two: the newer stays
        #expect(queue.take(10).map(\.requestID) == ["1", "2", "3", "4"])
        #expect(queue.count == 0)
    }

    // MARK: shapes

    @Test func aRowInLiteLLMsSpendLogsShape() {
        let row = SpendRow(
            requestID: "call-9", startTime: 1_700_000_000.25, endTime: 1_700_000_001.5, keyAlias: "search",
            keyHash: "abc123", route: "cohere", method: "POST", model: "rerank-v3", status: 429, inputTokens: 7,
            outputTokens: 3, cacheReadTokens: 2, cacheWriteTokens: 1, searchUnits: 4, cost: 0.0015,
            durationMs: 1250, partial: false, metered: true)
        #expect(
            row.litellmJSON.encoded
                == #"{"request_id":"call-9","call_type":"pass_through_endpoint","api_key":"abc123","spend":0.0015,"#
                + #""total_tokens":10,"prompt_tokens":7,"completion_tokens":3,"startTime":"2023-11-14T22:13:20.250000Z","#
                + #""endTime":"2023-11-14T22:13:21.500000Z","model":"rerank-v3","user":"","metadata":{"#
                + #""user_api_key_alias":"search","route":"cohere","status":429,"cache_read_input_tokens":2,"#
                + #""cache_creation_input_tokens":1,"search_units":4,"partial":false,"metered":true},"#
                + #""cache_hit":"False","request_tags":[],"status":"failure"}"#)
        var ok = row
        ok.status = 200
        ok.model = nil
        guard case .object(let members) = ok.litellmJSON else {
            Issue.record("not an object")
            return
        }
        #expect(members.first { $0.0 == "status" }?.1 == .string("success"))
        #expect(members.first { $0.0 == "model" }?.1 == .string(""))
    }

    @Test func timestampsAreUTCWithMicroseconds() {
        #expect(UTCTime.iso8601(0) == "1970-01-01T00:00:00.000000Z")
        #expect(UTCTime.iso8601(951_782_400.999999) == "2000-02-29T00:00:00.999999Z")
        #expect(UTCTime.iso8601(-0.5) == "1969-12-31T23:59:59.500000Z")
        #expect(UTCTime.iso8601(1_700_086_400) == "2023-11-15T22:13:20.000000Z")
    }

    // MARK: the usage command

    @Test func theUsageReportIsAnAlignedTableWithTotals() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let ledger = try SpendLedger.open(path: path)
            ledger.record(Self.row("1", alias: "search", cost: 0.5, input: 1000, output: 20))
            ledger.record(Self.row("2", alias: "search", cost: 0.25, input: 500, output: 10))
            ledger.record(Self.row("3", alias: "", cost: 1.5, input: 7, output: 3))
            #expect(ledger.flush())
            ledger.close()
            let report = try UsageReport.load(from: SpendReader.open(path: path), by: .key, since: nil)
            #expect(
                report.render() == """
                    key     requests  input  output  cache read  cache write  cost USD
                    -              1      7       3           0            0    1.5000
                    search         2   1500      30           0            0    0.7500
                    ------------------------------------------------------------------
                    total          3   1507      33           0            0    2.2500

                    """)
            let byDay = try UsageReport.load(from: SpendReader.open(path: path), by: .day, since: 1_700_000_001)
            #expect(byDay.lines.isEmpty && byDay.total.requests == 0)
        }
    }

    @Test func theUsageCommandReadsTheLedgerItIsPointedAt() throws {
        try Self.withDirectory { directory in
            let path = directory + "/usage.db"
            let ledger = try SpendLedger.open(path: path)
            ledger.record(Self.row("1", start: 1_700_000_000, route: "/v1/rerank"))
            ledger.record(Self.row("2", start: 1_700_100_000, route: "anthropic"))
            #expect(ledger.flush())
            ledger.close()
            var output = ""
            var error = ""
            let code = UsageCommand.run(
                ["--db", path, "--by=route", "--since", "1d"], environment: Environment(), now: 1_700_150_000,
                output: { output += $0 }, errorOutput: { error += $0 })
            #expect(code == .ok && error.isEmpty)
            #expect(output.hasPrefix("route "))
            #expect(output.contains("anthropic") && !output.contains("/v1/rerank"))

            let missing = UsageCommand.run(
                [], environment: Environment(["STATE_DIRECTORY": directory + "/nowhere"]), now: 0,
                output: { _ in }, errorOutput: { error = $0 })
            #expect(missing == .failure && error.contains("no spend ledger at \(directory)/nowhere/usage.db"))
        }
    }

    @Test func usageCommandOptions() throws {
        let now = 1_700_000_000.0
        let options = try UsageCommand.parse(["--since", "7d", "--by", "model"], environment: Environment(), now: now)
        #expect(options == UsageCommand.Options(database: "usage.db", since: now - 7 * 86_400, grouping: .model))
        #expect(try UsageCommand.parse(["--since=2023-11-14"], environment: Environment(), now: now).since == 1_699_920_000)
        #expect(try UsageCommand.parse(["--since", "12h"], environment: Environment(), now: now).since == now - 43_200)
        for bad in [["--by", "user"], ["--since", "yesterday"], ["--db"], ["--by", "key", "--by", "day"], ["--verbose"]] {
            var error = ""
            #expect(UsageCommand.run(bad, environment: Environment(), now: now, output: { _ in }, errorOutput: { error = $0 }) == .usage)
            #expect(error.hasPrefix("fcgi-pass-through: usage: "))
        }
        #expect(CommandLineOptions.usage.contains("usage [--db PATH"))
    }

    @Test func usageCommandReadsDatabaseURLLikeTheServer() throws {
        let url = "postgresql://gw:pw@db/ledger"
        #expect(try UsageCommand.parse([], environment: Environment(["DATABASE_URL": url]), now: 0).database == url)
        #expect(
            try UsageCommand.parse(["--db", "/x/usage.db"], environment: Environment(["DATABASE_URL": url]), now: 0)
                .database == "/x/usage.db")
        #expect(
            try UsageCommand.parse([], environment: Environment(["DATABASE_URL": "mysql://h/d"]), now: 0).database
                == "usage.db")
        // A server that is not there: a plain failure naming it without its password.
        var error = ""
        let code = UsageCommand.run(
            ["--db", "postgresql://gw:hunter2@127.0.0.1:1/ledger"], environment: Environment(), now: 0, output: { _ in },
            errorOutput: { error = $0 })
        #expect(code == .failure)
        #expect(error.contains("postgresql://gw:***@127.0.0.1:1/ledger") && !error.contains("hunter2"), "\(error)")
    }
}
