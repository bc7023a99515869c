import Foundation
import GatewayCore

/// `fcgi-pass-through usage`: the ledger summed per key, route, model or UTC day, as an
/// aligned plain-text table with a totals line.
public struct UsageReport: Sendable, Equatable {
    public enum Grouping: String, Sendable, CaseIterable {
        case key, route, model, day
    }

    /// One group's sums.
    public struct Line: Sendable, Equatable {
        public var group: String
        public var requests: Int
        public var inputTokens: Int
        public var outputTokens: Int
        public var cacheReadTokens: Int
        public var cacheWriteTokens: Int
        /// US dollars.
        public var cost: Double

        public init(
            group: String, requests: Int, inputTokens: Int, outputTokens: Int, cacheReadTokens: Int,
            cacheWriteTokens: Int, cost: Double
        ) {
            self.group = group
            self.requests = requests
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.cacheReadTokens = cacheReadTokens
            self.cacheWriteTokens = cacheWriteTokens
            self.cost = cost
        }
    }

    public var grouping: Grouping
    /// Day order for `day`, else most expensive first.
    public var lines: [Line]

    public init(grouping: Grouping, lines: [Line]) {
        self.grouping = grouping
        self.lines = lines
    }

    /// The report over the rows that started at or after `since` (Unix seconds; all when `nil`).
    public static func load(from reader: SpendReader, by grouping: Grouping, since: Double?) throws(LedgerReadError)
        -> UsageReport
    {
        UsageReport(grouping: grouping, lines: try reader.groupTotals(by: grouping, since: since, until: nil))
    }

    /// `--since`: `7d` (days) or `12h` (hours) before `now`, or a date or date-time that
    /// `expires` accepts (`2026-12-01`, `2026-12-01T09:00:00Z`). `nil` when it is neither.
    public static func since(_ text: String, now: Double) -> Double? {
        if let unit = text.last, unit == "d" || unit == "h", let count = Int(text.dropLast()), count >= 0,
            count <= 100_000
        {
            return now - Double(count) * (unit == "d" ? 86_400 : 3_600)
        }
        return ISO8601Timestamp.parse(text)?.timeIntervalSince1970
    }

    public var total: Line {
        let zero = Line(
            group: "total", requests: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0,
            cost: 0)
        return lines.reduce(into: zero) {
            $0.requests += $1.requests
            $0.inputTokens += $1.inputTokens
            $0.outputTokens += $1.outputTokens
            $0.cacheReadTokens += $1.cacheReadTokens
            $0.cacheWriteTokens += $1.cacheWriteTokens
            $0.cost += $1.cost
        }
    }

    /// The table: a header, one line per group ("-" for requests without a key or a
    /// model), a rule, the totals. Columns are separated by two spaces, numbers right-aligned.
    public func render() -> String {
        let header = [grouping.rawValue, "requests", "input", "output", "cache read", "cache write", "cost USD"]
        func cells(_ line: Line) -> [String] {
            [
                line.group.isEmpty ? "-" : line.group, String(line.requests), String(line.inputTokens),
                String(line.outputTokens), String(line.cacheReadTokens), String(line.cacheWriteTokens),
                String(format: "%.4f", line.cost),
            ]
        }
        let body = lines.map(cells)
        let totals = cells(total)
        let all = [header] + body + [totals]
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func format(_ row: [String]) -> String {
            row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return column == 0 ? row[column] + padding : padding + row[column]
            }
            .joined(separator: "  ")
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        return ([format(header)] + body.map(format) + [rule, format(totals)]).joined(separator: "\n") + "\n"
    }
}
