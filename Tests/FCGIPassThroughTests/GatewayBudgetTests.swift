import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations
@testable import UsageLedger

/// A key's budget and token limit through the whole pipeline: the scripted upstream
/// answers every request with `GatewayUsageTests.answer` (120 tokens, 0.0014 USD).
struct GatewayBudgetTests {
    static let usage = GatewayUsageTests()
    static let costOfOne = 0.001 + 60 * 0.000_002_5 + 40 * 0.000_001_25 + 20 * 0.000_01

    func gateway(key: VirtualKey, ledger: SpendLedger?, limiter: SharedKeyLimits = .anonymous()) -> Gateway {
        var config = Self.usage.config()
        config.keys = [key]
        let upstream = ScriptedUpstream([
            .head(200, [("Content-Type", "application/json")]), .body(GatewayUsageTests.answer), .end(nil),
        ])
        return Gateway(config: config, client: upstream, logger: Logger(level: .error), limiter: limiter, ledger: ledger)
    }

    func send(_ gateway: Gateway) -> RecordingWriter {
        let writer = RecordingWriter()
        gateway.handle(Self.usage.request(key: "sk-budget"), writer: writer)
        return writer
    }

    func error(_ writer: RecordingWriter) throws -> [String: Any] {
        let body = try #require(try JSONSerialization.jsonObject(with: Data(writer.bodyText.utf8)) as? [String: Any])
        return try #require(body["error"] as? [String: Any])
    }

    @Test func aKeyIsRefusedOnceItsSpendReachesItsBudget() throws {
        let (ledger, directory) = try Self.usage.ledger()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = VirtualKey(alias: "budgeted", digest: KeyDigest(of: "sk-budget"), maxBudget: 0.0015)
        let gateway = gateway(key: key, ledger: ledger)
        #expect(send(gateway).status == 200)
        #expect(send(gateway).status == 200)  // 0.0014 spent: still below the budget
        let refused = send(gateway)
        #expect(refused.status == 429)
        let error = try error(refused)
        #expect(error["type"] as? String == "budget_exceeded")
        let spend = KeyRefusal.amount(2 * Self.costOfOne)
        #expect(
            error["message"] as? String
                == "Budget has been exceeded! Key=budgeted Current cost: \(spend), Max budget: 0.0015")
        #expect(refused.headers["Retry-After"] == nil)  // an all-time budget does not come back
        #expect(ledger.flush())
        #expect(try ledger.spendLogs(query: SpendLogQuery()).count == 2)  // a refusal writes no row

        // A fresh table (a reboot) learns the spend from the ledger before admitting.
        let restarted = self.gateway(key: key, ledger: ledger)
        let again = send(restarted)
        #expect(again.status == 429)
        #expect(try self.error(again)["message"] as? String == error["message"] as? String)
    }

    @Test func aWindowedBudgetSaysWhenItStartsAgain() throws {
        let key = VirtualKey(
            alias: "hourly", digest: KeyDigest(of: "sk-budget"), maxBudget: 0.001, budgetDuration: (3_600, "1h"))
        let gateway = gateway(key: key, ledger: nil)
        #expect(send(gateway).status == 200)
        let refused = send(gateway)
        #expect(refused.status == 429)
        let retryAfter = try #require(refused.headers["Retry-After"].flatMap { Int($0) })
        #expect((1...3_600).contains(retryAfter))
    }

    @Test func aKeyIsRefusedOnceTheTokensOfTheLastMinuteReachItsTpm() throws {
        let key = VirtualKey(alias: "tokens", digest: KeyDigest(of: "sk-budget"), tpmLimit: 100)
        let gateway = gateway(key: key, ledger: nil)
        let first = send(gateway)
        #expect(first.status == 200)
        #expect(first.headers["x-ratelimit-limit-tokens"] == "100")
        #expect(first.headers["x-ratelimit-remaining-tokens"] == "100")
        let refused = send(gateway)  // the first answer's 120 tokens are over the limit
        #expect(refused.status == 429)
        #expect(try error(refused)["type"] as? String == "rate_limit_error")
        #expect(refused.headers["Retry-After"] == "60")
        #expect(refused.headers["x-ratelimit-remaining-tokens"] == "0")
    }
}
