import Foundation
import GatewayCore
import UsageLedger

extension SpendRow {
    /// The ledger's row for a forwarded request, from its record.
    init(_ record: RequestRecord, startedAt: Double) {
        let usage = record.usage ?? Usage()
        self.init(
            requestID: record.requestID, startTime: startedAt, endTime: startedAt + record.duration.seconds,
            keyAlias: record.caller.alias, keyHash: record.caller.key?.digest.hex ?? "", route: record.routeLabel,
            method: record.method, model: usage.model.map(SpendRow.storable), status: record.status,
            inputTokens: usage.inputTokens,
            outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadTokens,
            cacheWriteTokens: usage.cacheWriteTokens, searchUnits: usage.searchUnits, cost: record.cost ?? 0,
            durationMs: record.duration.seconds * 1000, partial: usage.partial, metered: usage.metered)
    }
}

extension BuiltInAnswer {
    /// `/spend/logs`: the ledger's rows (`summarize=false`) or its per-day totals, in
    /// LiteLLM's shapes (docs/USAGE.md).
    init(spendLogs ask: SpendLogsAsk, ledger: SpendLedger?) {
        headers = HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        guard let ledger else {
            status = 503
            body = GatewayError(status: 503, message: "The usage ledger is not open on this instance.").body
            return
        }
        let query = SpendLogQuery(
            start: ask.start, end: ask.end, keyAlias: ask.keyAlias, page: ask.page, pageSize: ask.pageSize)
        do {
            let answer: JSONValue =
                ask.summarize
                ? DailyTotal.litellmSummary(try ledger.dailyTotals(query: query))
                : .array(try ledger.spendLogs(query: query).map(\.litellmJSON))
            body = Data(answer.encoded.utf8)
        } catch {
            // The database's own message names its file; the client gets a plain 503.
            status = 503
            body = GatewayError(status: 503, message: "The usage ledger cannot be read right now.").body
        }
    }
}
