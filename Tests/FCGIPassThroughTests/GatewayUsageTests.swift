import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations
@testable import UsageLedger

/// The request pipeline meters, prices and records a forwarded request: a scripted
/// upstream, a recording writer and a real ledger file.
struct GatewayUsageTests {
    static let chatBody = #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#
    static let answer =
        #"{"id":"c1","model":"gpt-4o-2024-08-06","choices":[{"message":{"content":"Hello"}}],"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":40}}}"#

    func config(usage: UsageFormat = .openai) -> GatewayConfig {
        var endpoint = TestSupport.endpoint("/v1/chat/completions")
        endpoint.usageFormat = usage
        endpoint.costPerRequest = 0.001
        var config = GatewayConfig(masterKey: "sk-master", endpoints: [endpoint])
        config.prices = PriceBook([
            ModelPrice(
                name: "gpt-4o", provider: "openai", mode: "chat", inputCostPerToken: 0.000_002_5,
                outputCostPerToken: 0.000_01, cacheReadInputTokenCost: 0.000_001_25)
        ])
        return config
    }

    func request(_ path: String = "/v1/chat/completions", key: String = "sk-master", query: String? = nil)
        -> GatewayRequest
    {
        var request = TestSupport.request(
            path + (query.map { "?\($0)" } ?? ""),
            headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")], body: Self.chatBody)
        request.requestID = "req-\(UUID().uuidString)"
        return request
    }

    func ledger() throws -> (SpendLedger, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("usage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        return (try SpendLedger.open(path: directory + "/usage.db"), directory)
    }

    @Test func aMeteredAnswerIsPricedAndRecordedAsItWasRelayed() throws {
        let (ledger, directory) = try ledger()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = ScriptedUpstream([.head(200, [("Content-Type", "application/json")]), .body(Self.answer), .end(nil)])
        let gateway = Gateway(config: config(), client: upstream, logger: Logger(level: .error), ledger: ledger)
        let writer = RecordingWriter()
        let sent = request()
        gateway.handle(sent, writer: writer)
        #expect(writer.status == 200)
        #expect(writer.bodyText == Self.answer)
        #expect(ledger.flush())
        let rows = try ledger.spendLogs(query: SpendLogQuery())
        let row = try #require(rows.first)
        #expect(rows.count == 1)
        #expect(row.requestID == sent.requestID)
        // The request's model names the price; cached tokens are part of prompt_tokens.
        #expect(row.model == "gpt-4o")
        #expect(row.inputTokens == 100 && row.outputTokens == 20 && row.cacheReadTokens == 40)
        let expected = 0.001 + 60 * 0.000_002_5 + 40 * 0.000_001_25 + 20 * 0.000_01
        #expect(abs(row.cost - expected) < 1e-12)
        #expect(row.metered && !row.partial && row.keyAlias == "master_key")
        let text = gateway.metrics.render(version: "t")
        #expect(text.contains("fcgi_pass_through_cost_usd_total"))
    }

    @Test func anAnswerThePresetCannotReadIsUnmeteredNotAnError() throws {
        let (ledger, directory) = try ledger()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = ScriptedUpstream([.head(200, [("Content-Type", "application/json")]), .body("not json"), .end(nil)])
        let gateway = Gateway(config: config(), client: upstream, logger: Logger(level: .error), ledger: ledger)
        let writer = RecordingWriter()
        gateway.handle(request(), writer: writer)
        #expect(writer.status == 200 && writer.bodyText == "not json")
        #expect(ledger.flush())
        let row = try #require(try ledger.spendLogs(query: SpendLogQuery()).first)
        #expect(!row.metered && row.inputTokens == 0 && abs(row.cost - 0.001) < 1e-12)
    }

    @Test func aFailedAnswerCostsNothingAndARefusalWritesNoRow() throws {
        let (ledger, directory) = try ledger()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = ScriptedUpstream([.head(500, [("Content-Type", "application/json")]), .body("{}"), .end(nil)])
        let gateway = Gateway(config: config(), client: upstream, logger: Logger(level: .error), ledger: ledger)
        gateway.handle(request(), writer: RecordingWriter())
        gateway.handle(request(key: "sk-wrong"), writer: RecordingWriter())
        #expect(ledger.flush())
        let rows = try ledger.spendLogs(query: SpendLogQuery())
        #expect(rows.map(\.status) == [500])
        #expect(rows.first?.cost == 0)
    }

    @Test func spendLogsAnswersTheMasterKeyOnly() throws {
        let (ledger, directory) = try ledger()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = ScriptedUpstream([.head(200, [("Content-Type", "application/json")]), .body(Self.answer), .end(nil)])
        let gateway = Gateway(config: config(), client: upstream, logger: Logger(level: .error), ledger: ledger)
        gateway.handle(request(), writer: RecordingWriter())
        #expect(ledger.flush())
        let rows = RecordingWriter()
        var logs = TestSupport.request(
            "/spend/logs?summarize=false", method: "GET", headers: [("authorization", "Bearer sk-master")])
        logs.requestID = "req-logs"
        gateway.handle(logs, writer: rows)
        #expect(rows.status == 200)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(rows.bodyText.utf8)) as? [[String: Any]])
        #expect(list.count == 1)
        #expect(list.first?["model"] as? String == "gpt-4o")
        #expect(list.first?["prompt_tokens"] as? Int == 100)
        let anonymous = RecordingWriter()
        gateway.handle(TestSupport.request("/spend/logs", method: "GET"), writer: anonymous)
        #expect(anonymous.status == 401)
    }

    @Test(arguments: [
        ("page=0", false), ("page_size=1001", false), ("page_size=1000", true), ("summarize=maybe", false),
        ("start_date=2026-13-01", false), ("start_date=2026-12-01&end_date=2026-12-06", true), ("key=sk-x", false),
        ("page=2&page=3", false), ("key_alias=a%20b", true),
    ])
    func spendLogsQueries(query: String, ok: Bool) {
        let parsed = SpendLogsRequest.parse(Substring(query))
        if case .success = parsed { #expect(ok) } else { #expect(!ok) }
    }

    @Test func anEndDateIncludesItsDay() throws {
        guard case .success(let ask) = SpendLogsRequest.parse("start_date=2026-12-06&end_date=2026-12-06") else {
            Issue.record("refused")
            return
        }
        #expect(try #require(ask.end) - (try #require(ask.start)) == 86_400)
    }
}
