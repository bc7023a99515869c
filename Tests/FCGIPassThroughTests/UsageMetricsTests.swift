import Foundation
import Testing

@testable import GatewayCore
@testable import Operations

/// The cost, token, metering and ledger families of `/metrics`.
@Suite struct UsageMetricsTests {
    static let team = Caller.key(VirtualKey(alias: "team-a", digest: KeyDigest(of: "sk-team-a")))

    func record(
        route: String = "/chat", status: Int = 200, caller: Caller = .anonymous, usage: Usage? = nil,
        cost: Double? = nil, priced: Bool = true
    ) -> RequestRecord {
        var record = RequestRecord(requestID: "r-1", method: "POST")
        record.route = .endpoint(TestSupport.endpoint(route))
        record.outcome = status < 400 ? .completed(status: status) : .failed(GatewayError(status: status, message: "x"))
        record.caller = caller
        record.usage = usage
        record.cost = cost
        record.priced = priced
        return record
    }

    func finish(_ metrics: Metrics, _ records: RequestRecord...) {
        for record in records {
            metrics.requestStarted()
            metrics.requestFinished(record)
        }
    }

    /// The family's sample lines, in the rendered order.
    func samples(_ family: String, in text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(family + "{") || $0.hasPrefix(family + " ") }
    }

    @Test func tokensCostAndSearchUnitsAreLabelledByRouteKeyAliasAndModel() {
        let metrics = Metrics()
        finish(
            metrics,
            record(
                caller: .masterKey,
                usage: Usage(model: "gpt-4o", inputTokens: 10, outputTokens: 5, cacheReadTokens: 3, metered: true), cost: 0.25),
            record(
                caller: Self.team,
                usage: Usage(model: "gpt-4o", inputTokens: 1, outputTokens: 2, cacheWriteTokens: 7, metered: true), cost: 0.5),
            record(caller: Self.team, usage: Usage(model: "gpt-4o", inputTokens: 4, metered: true), cost: 0.125),
            record(route: "/rerank", usage: Usage(searchUnits: 2, metered: true), cost: 0.002),
            record(route: "/plain", cost: 1))
        let text = metrics.render(version: "t")
        #expect(
            samples("fcgi_pass_through_tokens_total", in: text) == [
                #"fcgi_pass_through_tokens_total{key_alias="master_key",model="gpt-4o",route="/chat",type="cache_read"} 3"#,
                #"fcgi_pass_through_tokens_total{key_alias="master_key",model="gpt-4o",route="/chat",type="input"} 10"#,
                #"fcgi_pass_through_tokens_total{key_alias="master_key",model="gpt-4o",route="/chat",type="output"} 5"#,
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="gpt-4o",route="/chat",type="cache_write"} 7"#,
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="gpt-4o",route="/chat",type="input"} 5"#,
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="gpt-4o",route="/chat",type="output"} 2"#,
            ])
        #expect(
            samples("fcgi_pass_through_cost_usd_total", in: text) == [
                #"fcgi_pass_through_cost_usd_total{key_alias="master_key",model="gpt-4o",route="/chat"} 0.25"#,
                #"fcgi_pass_through_cost_usd_total{key_alias="team-a",model="gpt-4o",route="/chat"} 0.625"#,
                #"fcgi_pass_through_cost_usd_total{route="/plain"} 1"#,
                #"fcgi_pass_through_cost_usd_total{route="/rerank"} 0.002"#,
            ])
        #expect(
            samples("fcgi_pass_through_search_units_total", in: text) == [
                #"fcgi_pass_through_search_units_total{route="/rerank"} 2"#
            ])
        #expect(text.contains("# TYPE fcgi_pass_through_tokens_total counter\n"))
        #expect(text.contains("# HELP fcgi_pass_through_cost_usd_total USD spent by successful requests: cost_per_request"))
        #expect(samples("fcgi_pass_through_unmetered_total", in: text).isEmpty)
        #expect(samples("fcgi_pass_through_unpriced_total", in: text).isEmpty)
        #expect(!text.contains("fcgi_pass_through_ledger"))  // nobody reported a ledger
    }

    @Test func failedRequestsCostNothingButTheirMeteredTokensCount() {
        let metrics = Metrics()
        finish(metrics, record(status: 502, usage: Usage(model: "m", outputTokens: 9, metered: true), cost: 3))
        let text = metrics.render(version: "t")
        #expect(samples("fcgi_pass_through_cost_usd_total", in: text).isEmpty)
        #expect(
            samples("fcgi_pass_through_tokens_total", in: text) == [
                #"fcgi_pass_through_tokens_total{model="m",route="/chat",type="output"} 9"#
            ])
    }

    @Test func unmeteredCountsMeteringEndpointsWithoutUsageAndUnpricedCountsMeteredRequestsWithoutAPrice() {
        let metrics = Metrics()
        finish(
            metrics,
            record(route: "/none"),  // the endpoint does not meter: neither
            record(route: "/a", usage: Usage(model: "x", inputTokens: 5), priced: false),  // unread: unmetered only
            record(route: "/a", usage: Usage(metered: false)),
            record(route: "/b", usage: Usage(model: "cheap", inputTokens: 1, metered: true), priced: true),
            record(route: "/b", usage: Usage(model: "odd", inputTokens: 1, metered: true), priced: false),
            record(route: "/b", usage: Usage(model: "odd", inputTokens: 2, metered: true), priced: false),
            record(route: "/b", usage: Usage(inputTokens: 1, metered: true), priced: false))
        let text = metrics.render(version: "t")
        #expect(
            samples("fcgi_pass_through_unmetered_total", in: text) == [
                #"fcgi_pass_through_unmetered_total{route="/a"} 2"#
            ])
        #expect(
            samples("fcgi_pass_through_unpriced_total", in: text) == [
                #"fcgi_pass_through_unpriced_total{route="/b"} 1"#,
                #"fcgi_pass_through_unpriced_total{model="odd",route="/b"} 2"#,
            ])
        #expect(!text.contains(#"model="x""#))  // an unmetered response's tokens are not counted
    }

    @Test func modelsBeyondTheCapOrTooLongBecomeOther() {
        let metrics = Metrics()
        for index in 0..<ModelLabels.maxModels {
            finish(metrics, record(usage: Usage(model: "m\(index)", inputTokens: 1, metered: true)))
        }
        finish(
            metrics,
            record(usage: Usage(model: "one-too-many", inputTokens: 1, metered: true)),
            record(usage: Usage(model: "m7", inputTokens: 1, metered: true)),  // known: still itself
            record(usage: Usage(model: String(repeating: "l", count: 129), inputTokens: 1, metered: true)),
            record(usage: Usage(model: String(repeating: "k", count: 128), inputTokens: 1, metered: false)))
        let text = metrics.render(version: "t")
        let tokens = samples("fcgi_pass_through_tokens_total", in: text)
        #expect(tokens.count == ModelLabels.maxModels + 1)
        #expect(tokens.contains(#"fcgi_pass_through_tokens_total{model="other",route="/chat",type="input"} 2"#))
        #expect(tokens.contains(#"fcgi_pass_through_tokens_total{model="m7",route="/chat",type="input"} 2"#))
        #expect(!text.contains("one-too-many"))

        let labels = Metrics()
        let longest = String(repeating: "é", count: 64)  // 128 bytes
        finish(labels, record(usage: Usage(model: longest, inputTokens: 1, metered: true)))
        finish(labels, record(usage: Usage(model: longest + "e", inputTokens: 1, metered: true)))
        #expect(
            samples("fcgi_pass_through_tokens_total", in: labels.render(version: "t")) == [
                #"fcgi_pass_through_tokens_total{model="other",route="/chat",type="input"} 1"#,
                "fcgi_pass_through_tokens_total{model=\"\(longest)\",route=\"/chat\",type=\"input\"} 1",
            ])
    }

    /// Names that escape to three times their length: the byte budget, not the model
    /// count, stops them, and the worker's slot still takes everything.
    @Test func hostileNamesStayWithinTheByteBudgetAndTheSlot() throws {
        let metrics = Metrics()
        for index in 0..<ModelLabels.maxModels {
            let model = String(format: "%03d", index) + String(repeating: "%", count: ModelLabels.maxModelBytes - 3)
            let many = Int.max / 1000  // the `other` series add these up
            let usage = Usage(
                model: model, inputTokens: many, outputTokens: many, cacheReadTokens: many, cacheWriteTokens: many,
                metered: true)
            finish(metrics, record(caller: Self.team, usage: usage, cost: -.greatestFiniteMagnitude, priced: false))
        }
        let counters = metrics.instanceTotals()
        #expect(counters.unpriced.keys.contains { $0.model == ModelLabels.other })
        let modelLines = String(decoding: counters.encoded(), as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("tk\t") || $0.hasPrefix("cm\t") || $0.hasPrefix("up\t") }
            .filter { !$0.contains("\t\(ModelLabels.other)\t") }
        let bytes = modelLines.reduce(0) { $0 + $1.utf8.count + 1 }
        #expect(bytes > ModelLabels.byteBudget * 9 / 10)  // the worst case is near the bound
        #expect(bytes <= ModelLabels.byteBudget)
        let region = try #require(MetricsRegion.create(slots: 1))
        #expect(region.publish(counters.encoded(), slot: 0))
    }

    @Test func hostileModelNamesAreEscapedInTheTextFormatAndSurviveTheRegion() throws {
        let hostile = "a\"b\\c\nd\te%09"
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0))
        let second = Metrics(shared: (region, 1))
        finish(second, record(caller: Self.team, usage: Usage(model: hostile, inputTokens: 1, metered: true), priced: false))
        second.publish()
        let text = first.render(version: "t")
        #expect(
            samples("fcgi_pass_through_tokens_total", in: text) == [
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="a\"b\\c\nd"# + "\t"
                    + #"e%09",route="/chat",type="input"} 1"#
            ])
        #expect(
            samples("fcgi_pass_through_unpriced_total", in: text) == [
                #"fcgi_pass_through_unpriced_total{model="a\"b\\c\nd"# + "\t" + #"e%09",route="/chat"} 1"#
            ])
    }

    @Test func twoWorkersCountersAddUp() throws {
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0))
        let second = Metrics(shared: (region, 1))
        let usage = Usage(model: "claude", inputTokens: 100, outputTokens: 10, metered: true)
        finish(
            first, record(caller: Self.team, usage: usage, cost: 0.5),
            record(route: "/rerank", usage: Usage(model: "rerank-v3.5", searchUnits: 1, metered: true))
        )
        finish(
            second, record(caller: Self.team, usage: usage, cost: 0.25),
            // Search units are counted with the model's other series and summed per
            // route and key alias across models and workers.
            record(route: "/rerank", usage: Usage(model: "rerank-english-v3.0", searchUnits: 3, metered: true)),
            record(usage: Usage()), record(usage: Usage(model: "claude", inputTokens: 1, metered: true), priced: false))
        first.publish()
        second.publish()
        let text = first.render(version: "t")
        #expect(
            samples("fcgi_pass_through_tokens_total", in: text) == [
                #"fcgi_pass_through_tokens_total{model="claude",route="/chat",type="input"} 1"#,
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="claude",route="/chat",type="input"} 200"#,
                #"fcgi_pass_through_tokens_total{key_alias="team-a",model="claude",route="/chat",type="output"} 20"#,
            ])
        #expect(
            samples("fcgi_pass_through_cost_usd_total", in: text) == [
                #"fcgi_pass_through_cost_usd_total{key_alias="team-a",model="claude",route="/chat"} 0.75"#
            ])
        #expect(
            samples("fcgi_pass_through_search_units_total", in: text) == [
                #"fcgi_pass_through_search_units_total{route="/rerank"} 4"#
            ])
        #expect(samples("fcgi_pass_through_unmetered_total", in: text) == [#"fcgi_pass_through_unmetered_total{route="/chat"} 1"#])
        #expect(
            samples("fcgi_pass_through_unpriced_total", in: text) == [
                #"fcgi_pass_through_unpriced_total{model="claude",route="/chat"} 1"#
            ])
    }

    @Test func ledgerCountersAddUpAcrossWorkersAndNeverGoBackWhenOneIsReplaced() throws {
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0))
        let second = Metrics(shared: (region, 1))
        first.ledgerStats(pending: 3, writeFailures: 1, dropped: 0)
        second.ledgerStats(pending: 2, writeFailures: 4, dropped: 5)
        second.ledgerStats(pending: 4, writeFailures: 4, dropped: 6)  // absolute, not added
        first.publish()
        second.publish()
        let text = first.render(version: "t")
        #expect(samples("fcgi_pass_through_ledger_rows_pending", in: text) == ["fcgi_pass_through_ledger_rows_pending 7"])
        #expect(samples("fcgi_pass_through_ledger_write_failures_total", in: text) == ["fcgi_pass_through_ledger_write_failures_total 5"])
        #expect(samples("fcgi_pass_through_ledger_rows_dropped_total", in: text) == ["fcgi_pass_through_ledger_rows_dropped_total 6"])
        #expect(text.contains("# TYPE fcgi_pass_through_ledger_rows_pending gauge\n"))

        let replacement = Metrics(shared: (region, 1))  // its ledger starts from zero
        replacement.ledgerStats(pending: 1, writeFailures: 2, dropped: 0)
        let after = replacement.render(version: "t")
        #expect(samples("fcgi_pass_through_ledger_rows_pending", in: after) == ["fcgi_pass_through_ledger_rows_pending 4"])
        #expect(samples("fcgi_pass_through_ledger_write_failures_total", in: after) == ["fcgi_pass_through_ledger_write_failures_total 7"])
        #expect(samples("fcgi_pass_through_ledger_rows_dropped_total", in: after) == ["fcgi_pass_through_ledger_rows_dropped_total 6"])
        // A SQLite ledger has no spool to count.
        #expect(samples("fcgi_pass_through_ledger_rows_spooled_total", in: after).isEmpty)
    }

    @Test func spooledAndReplayedRowsAreCountedWithAPostgreSQLLedger() throws {
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0))
        let second = Metrics(shared: (region, 1))
        first.sharedStore("postgresql", up: true)
        first.ledgerStats(pending: 0, writeFailures: 0, dropped: 0, spooled: 40, replayed: 25)
        second.sharedStore("postgresql", up: true)
        second.ledgerStats(pending: 0, writeFailures: 0, dropped: 0, spooled: 2, replayed: 17)
        first.publish()
        second.publish()
        let text = first.render(version: "t")
        #expect(samples("fcgi_pass_through_ledger_rows_spooled_total", in: text) == ["fcgi_pass_through_ledger_rows_spooled_total 42"])
        #expect(samples("fcgi_pass_through_ledger_rows_replayed_total", in: text) == ["fcgi_pass_through_ledger_rows_replayed_total 42"])
        #expect(text.contains("# TYPE fcgi_pass_through_ledger_rows_spooled_total counter\n"))
        // A recycled worker's counters carry on from its predecessor's.
        let replacement = Metrics(shared: (region, 1))
        replacement.sharedStore("postgresql", up: true)
        replacement.ledgerStats(pending: 0, writeFailures: 0, dropped: 0, spooled: 1, replayed: 0)
        let after = replacement.render(version: "t")
        #expect(samples("fcgi_pass_through_ledger_rows_spooled_total", in: after) == ["fcgi_pass_through_ledger_rows_spooled_total 43"])
        #expect(samples("fcgi_pass_through_ledger_rows_replayed_total", in: after) == ["fcgi_pass_through_ledger_rows_replayed_total 42"])
    }

    @Test func theNewCountersSurviveTheEncodingAndOldCostLinesStillDecode() {
        var counters = MetricCounters()
        let awkward = MetricCounters.SpendKey(route: "/a\tb", keyAlias: "k%\n", model: "m\t%0A\n")
        counters.spend[awkward] = .init(cost: 0.5, tokens: .init(cacheRead: 12, output: 7))
        counters.spend[.init(route: "/plain")] = .init(cost: 2)
        counters.spend[.init(route: "/r", keyAlias: "k%\n")] = .init(searchUnits: 3)
        counters.unmetered["/u\t"] = 4
        counters.unpriced[.init(route: "/a\tb", model: "m\t%0A\n")] = 5
        counters.ledger = .init(pending: 1, writeFailures: 2, dropped: 3)
        #expect(MetricCounters(decoding: counters.encoded()) == counters)
        let lines = String(decoding: counters.encoded(), as: UTF8.self).split(separator: "\n")
        #expect(lines.contains("c\t/plain\t2.0"))  // unlabelled cost keeps its old line
        // Each non-zero count of a series is its own line, as before; zero counts make none.
        #expect(lines.filter { $0.hasPrefix("tk\t") }.count == 2)
        #expect(lines.contains("tk\t/a%09b\tk%25%0A\tm%09%250A%0A\tcache_read\t12"))
        #expect(MetricCounters(decoding: Data("c\t/old\t1.5".utf8)).spend == [.init(route: "/old"): .init(cost: 1.5)])
    }

    @Test func aReplacementKeepsItsPredecessorsModelsWithinTheCap() throws {
        let region = try #require(MetricsRegion.create(slots: 1))
        let first = Metrics(shared: (region, 0))
        for index in 0..<ModelLabels.maxModels {
            finish(first, record(usage: Usage(model: "m\(index)", inputTokens: 1, metered: true)))
        }
        first.publish()
        let replacement = Metrics(shared: (region, 0))
        finish(
            replacement, record(usage: Usage(model: "m1", inputTokens: 1, metered: true)),
            record(usage: Usage(model: "new", inputTokens: 1, metered: true)))
        let tokens = samples("fcgi_pass_through_tokens_total", in: replacement.render(version: "t"))
        #expect(tokens.contains(#"fcgi_pass_through_tokens_total{model="m1",route="/chat",type="input"} 2"#))
        #expect(tokens.contains(#"fcgi_pass_through_tokens_total{model="other",route="/chat",type="input"} 1"#))
    }
}
