import Foundation
import GatewayCore

/// The counters one process has accumulated: mergeable (a scrape adds up every
/// worker's) and encodable as text lines (how workers publish them to each other).
struct MetricCounters: Sendable, Equatable {
    /// Keys compare by bytes: every request looks its series up under the metrics lock,
    /// and `String`'s `==` (canonical equivalence) costs several times a `memcmp`. Names
    /// that differ only in normalisation hash alike and stay apart.
    private static func same(_ a: String, _ b: String) -> Bool { UTF8Text.sameBytes(a, b) }

    struct RequestKey: Hashable, Sendable, Comparable {
        var route: String
        var method: String
        var status: Int
        /// The caller's `Caller.alias`; empty for nobody.
        var keyAlias = ""
        static func < (a: Self, b: Self) -> Bool {
            (a.route, a.method, a.status, a.keyAlias) < (b.route, b.method, b.status, b.keyAlias)
        }
        static func == (a: Self, b: Self) -> Bool {
            a.status == b.status && same(a.route, b.route) && same(a.method, b.method) && same(a.keyAlias, b.keyAlias)
        }
    }

    struct ErrorKey: Hashable, Sendable, Comparable {
        var route: String
        package var kind: String
        static func < (a: Self, b: Self) -> Bool { (a.route, a.kind) < (b.route, b.kind) }
        static func == (a: Self, b: Self) -> Bool { same(a.route, b.route) && same(a.kind, b.kind) }
    }

    /// A series of the model-labelled families (cost, tokens): empty `keyAlias` or `model`
    /// means the label is absent.
    struct SpendKey: Hashable, Sendable, Comparable {
        var route: String
        var keyAlias = ""
        var model = ""
        static func < (a: Self, b: Self) -> Bool {
            (a.route, a.keyAlias, a.model) < (b.route, b.keyAlias, b.model)
        }
        static func == (a: Self, b: Self) -> Bool {
            same(a.route, b.route) && same(a.keyAlias, b.keyAlias) && same(a.model, b.model)
        }
    }

    /// The `type` label of `tokens_total`, in the order its series are written.
    enum TokenType: String, CaseIterable, Sendable {
        case cacheRead = "cache_read"
        case cacheWrite = "cache_write"
        case input, output
    }

    /// One (route, key alias, model)'s tokens by type, kept together so that a metered
    /// response, which usually has two to four kinds, costs one lookup; each non-zero
    /// count is a series of `tokens_total`.
    struct TokenCounts: Sendable, Equatable {
        var cacheRead = 0
        var cacheWrite = 0
        var input = 0
        var output = 0

        subscript(type: TokenType) -> Int {
            get {
                switch type {
                case .cacheRead: cacheRead
                case .cacheWrite: cacheWrite
                case .input: input
                case .output: output
                }
            }
            set {
                switch type {
                case .cacheRead: cacheRead = newValue
                case .cacheWrite: cacheWrite = newValue
                case .input: input = newValue
                case .output: output = newValue
                }
            }
        }

        var isZero: Bool { cacheRead == 0 && cacheWrite == 0 && input == 0 && output == 0 }

        mutating func add(_ other: TokenCounts) {
            cacheRead += other.cacheRead
            cacheWrite += other.cacheWrite
            input += other.input
            output += other.output
        }
    }

    /// What one (route, key alias, model) series key has counted: its cost, tokens and
    /// search units together, so that a finished request costs one lookup under the
    /// metrics lock whatever it reported.
    struct SpendCounts: Sendable, Equatable {
        /// USD; `nil` until a request with a cost is counted (then the key has a cost series).
        var cost: Double?
        var tokens = TokenCounts()
        /// Cohere's billed search units: a family without a model label, summed per
        /// (route, key alias) when written.
        var searchUnits = 0

        /// Nothing that would make a series.
        var isEmpty: Bool { cost == nil && tokens.isZero && searchUnits == 0 }

        mutating func add(_ other: SpendCounts) {
            if let theirs = other.cost { cost = (cost ?? 0) + theirs }
            tokens.add(other.tokens)
            searchUnits += other.searchUnits
        }
    }

    struct AliasKey: Hashable, Sendable, Comparable {
        var route: String
        var keyAlias = ""
        static func < (a: Self, b: Self) -> Bool { (a.route, a.keyAlias) < (b.route, b.keyAlias) }
        static func == (a: Self, b: Self) -> Bool { same(a.route, b.route) && same(a.keyAlias, b.keyAlias) }
    }

    struct ModelKey: Hashable, Sendable, Comparable {
        var route: String
        var model = ""
        static func < (a: Self, b: Self) -> Bool { (a.route, a.model) < (b.route, b.model) }
        static func == (a: Self, b: Self) -> Bool { same(a.route, b.route) && same(a.model, b.model) }
    }

    /// The spend ledger's writer, as the process last reported it (`Metrics.ledgerStats`).
    struct LedgerCounters: Sendable, Equatable {
        /// A gauge: rows queued and not yet written.
        var pending = 0
        var writeFailures = 0
        var dropped = 0
        /// Rows written to the host's spool while PostgreSQL was away, and spooled rows
        /// moved to it since.
        var spooled = 0
        var replayed = 0

        mutating func merge(_ other: LedgerCounters) {
            pending += other.pending
            writeFailures += other.writeFailures
            dropped += other.dropped
            spooled += other.spooled
            replayed += other.replayed
        }
    }

    /// A cumulative histogram with fixed bucket bounds in seconds.
    struct Histogram: Sendable, Equatable {
        static let bounds: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
        var buckets = [Int](repeating: 0, count: bounds.count)
        var count = 0
        var sum = 0.0

        mutating func observe(_ seconds: Double) {
            if let index = Self.bounds.firstIndex(where: { seconds <= $0 }) { buckets[index] += 1 }
            count += 1
            sum += seconds
        }

        mutating func merge(_ other: Histogram) {
            for index in buckets.indices { buckets[index] += other.buckets[index] }
            count += other.count
            sum += other.sum
        }
    }

    var requests: [RequestKey: Int] = [:]
    var upstreamErrors: [ErrorKey: Int] = [:]
    /// By route, key alias and model: USD of successful requests, tokens of metered
    /// responses (only non-zero counts make a series), and search units.
    var spend: [SpendKey: SpendCounts] = [:]

    /// Search units per (route, key alias), as `search_units_total` has them.
    var searchUnitsByAlias: [AliasKey: Int] {
        var sums: [AliasKey: Int] = [:]
        for (key, counts) in spend where counts.searchUnits != 0 {
            sums[AliasKey(route: key.route, keyAlias: key.keyAlias), default: 0] += counts.searchUnits
        }
        return sums
    }
    /// Requests to a metering endpoint whose response carried no readable usage.
    var unmetered: [String: Int] = [:]
    /// Metered requests whose model had no price.
    var unpriced: [ModelKey: Int] = [:]
    /// `nil` until the process reports a ledger: no ledger, no ledger families.
    var ledger: LedgerCounters?
    /// Gauges by store (`redis`, `postgresql`): whether the process reaches the shared
    /// store it is configured with. Merged as "every process reaches it".
    var sharedStores: [String: Bool] = [:]
    var bytesIn: [String: Int] = [:]
    var bytesOut: [String: Int] = [:]
    var duration: [String: Histogram] = [:]
    var timeToFirstByte: [String: Histogram] = [:]
    /// A gauge, not a counter: what the process was serving when it published.
    var inFlight = 0
    /// A gauge: the process's worker threads, its concurrency cap (`--threads`).
    var threads = 0
    /// Requests answered 503 without being served, by reason (`RefusalReason`).
    package var refused: [String: Int] = [:]

    mutating func merge(_ other: MetricCounters) {
        requests.merge(other.requests, uniquingKeysWith: +)
        upstreamErrors.merge(other.upstreamErrors, uniquingKeysWith: +)
        spend.merge(other.spend) { mine, theirs in
            var sum = mine
            sum.add(theirs)
            return sum
        }
        unmetered.merge(other.unmetered, uniquingKeysWith: +)
        unpriced.merge(other.unpriced, uniquingKeysWith: +)
        if let theirs = other.ledger { merge(ledger: theirs) }
        sharedStores.merge(other.sharedStores) { $0 && $1 }
        bytesIn.merge(other.bytesIn, uniquingKeysWith: +)
        bytesOut.merge(other.bytesOut, uniquingKeysWith: +)
        for (route, histogram) in other.duration { duration[route, default: Histogram()].merge(histogram) }
        for (route, histogram) in other.timeToFirstByte { timeToFirstByte[route, default: Histogram()].merge(histogram) }
        inFlight += other.inFlight
        threads += other.threads
        refused.merge(other.refused, uniquingKeysWith: +)
    }

    private mutating func merge(ledger other: LedgerCounters) {
        var sum = ledger ?? LedgerCounters()
        sum.merge(other)
        ledger = sum
    }

    // MARK: text encoding (one record per line, tab-separated, fields percent-escaped)

    // Line kinds: a worker recycled into a newer binary reads its predecessor's slot, so
    // kinds keep their meaning and new counters get new kinds (an older reader skips them).
    // Cost without key alias and model is still written as `c`; labelled cost is `cm`.
    //   tk route alias model type n   tokens          su route alias n   search units
    //   cm route alias model usd      cost            um route n         unmetered
    //   up route model n              unpriced        lg pending failures dropped   ledger
    //   ss store 0|1                  shared store reachable
    // The model-labelled kinds stay within `ModelLabels.byteBudget` (see there).

    func encoded() -> Data {
        var lines: [String] = [Self.line("i", String(inFlight)), Self.line("th", String(threads))]
        for (reason, n) in refused { lines.append(Self.line("x", reason, String(n))) }
        for (key, n) in requests {
            lines.append(Self.line("r", key.route, key.method, String(key.status), String(n), key.keyAlias))
        }
        for (key, n) in upstreamErrors { lines.append(Self.line("e", key.route, key.kind, String(n))) }
        for (key, counts) in spend {
            if let value = counts.cost {
                if key.keyAlias.isEmpty && key.model.isEmpty {
                    lines.append(Self.line("c", key.route, String(value)))
                } else {
                    lines.append(Self.line("cm", key.route, key.keyAlias, key.model, String(value)))
                }
            }
            for type in TokenType.allCases where counts.tokens[type] != 0 {
                lines.append(Self.line("tk", key.route, key.keyAlias, key.model, type.rawValue, String(counts.tokens[type])))
            }
        }
        for (key, n) in searchUnitsByAlias { lines.append(Self.line("su", key.route, key.keyAlias, String(n))) }
        for (route, n) in unmetered { lines.append(Self.line("um", route, String(n))) }
        for (key, n) in unpriced { lines.append(Self.line("up", key.route, key.model, String(n))) }
        if let ledger {
            lines.append(
                Self.line(
                    "lg", String(ledger.pending), String(ledger.writeFailures), String(ledger.dropped), String(ledger.spooled),
                    String(ledger.replayed)))
        }
        for (store, up) in sharedStores { lines.append(Self.line("ss", store, up ? "1" : "0")) }
        for (route, n) in bytesIn { lines.append(Self.line("bi", route, String(n))) }
        for (route, n) in bytesOut { lines.append(Self.line("bo", route, String(n))) }
        for (tag, table) in [("d", duration), ("t", timeToFirstByte)] {
            for (route, h) in table {
                lines.append(Self.line([tag, route, String(h.count), String(h.sum)] + h.buckets.map(String.init)))
            }
        }
        return Data(lines.joined(separator: "\n").utf8)
    }

    init() {}

    /// Decodes what `encoded()` wrote; unreadable lines are skipped.
    init(decoding data: Data) {
        for raw in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = raw.split(separator: "\t", omittingEmptySubsequences: false).map { Self.unescape(String($0)) }
            switch (f.first, f.count) {
            case ("i", 2): inFlight += Int(f[1]) ?? 0
            case ("th", 2): threads += Int(f[1]) ?? 0
            case ("x", 3): if let n = Int(f[2]) { refused[f[1], default: 0] += n }
            case ("r", 5), ("r", 6):
                if let s = Int(f[3]), let n = Int(f[4]) {
                    let key = RequestKey(route: f[1], method: f[2], status: s, keyAlias: f.count == 6 ? f[5] : "")
                    requests[key, default: 0] += n
                }
            case ("e", 4): if let n = Int(f[3]) { upstreamErrors[ErrorKey(route: f[1], kind: f[2]), default: 0] += n }
            case ("c", 3): if let v = Double(f[2]) { spend[SpendKey(route: f[1]), default: SpendCounts()].add(.init(cost: v)) }
            case ("cm", 5):
                if let v = Double(f[4]) {
                    spend[SpendKey(route: f[1], keyAlias: f[2], model: f[3]), default: SpendCounts()].add(.init(cost: v))
                }
            case ("tk", 6):
                if let n = Int(f[5]), let type = TokenType(rawValue: f[4]) {
                    spend[SpendKey(route: f[1], keyAlias: f[2], model: f[3]), default: SpendCounts()].tokens[type] += n
                }
            case ("su", 4):
                if let n = Int(f[3]) { spend[SpendKey(route: f[1], keyAlias: f[2]), default: SpendCounts()].searchUnits += n }
            case ("um", 3): if let n = Int(f[2]) { unmetered[f[1], default: 0] += n }
            case ("up", 4): if let n = Int(f[3]) { unpriced[ModelKey(route: f[1], model: f[2]), default: 0] += n }
            case ("lg", 4), ("lg", 6):
                if let pending = Int(f[1]), let failures = Int(f[2]), let dropped = Int(f[3]) {
                    let spooled = f.count == 6 ? Int(f[4]) ?? 0 : 0
                    let replayed = f.count == 6 ? Int(f[5]) ?? 0 : 0
                    merge(
                        ledger: LedgerCounters(
                            pending: pending, writeFailures: failures, dropped: dropped, spooled: spooled, replayed: replayed))
                }
            case ("ss", 3): sharedStores[f[1]] = (sharedStores[f[1]] ?? true) && f[2] == "1"
            case ("bi", 3): if let n = Int(f[2]) { bytesIn[f[1], default: 0] += n }
            case ("bo", 3): if let n = Int(f[2]) { bytesOut[f[1], default: 0] += n }
            case ("d", 4 + Histogram.bounds.count), ("t", 4 + Histogram.bounds.count):
                guard let count = Int(f[2]), let sum = Double(f[3]) else { continue }
                let buckets = f[4...].compactMap { Int($0) }
                guard buckets.count == Histogram.bounds.count else { continue }
                let h = Histogram(buckets: buckets, count: count, sum: sum)
                if f[0] == "d" {
                    duration[f[1], default: Histogram()].merge(h)
                } else {
                    timeToFirstByte[f[1], default: Histogram()].merge(h)
                }
            default: continue
            }
        }
    }

    private static func line(_ fields: String...) -> String { line(fields) }
    private static func line(_ fields: [String]) -> String { fields.map(escape).joined(separator: "\t") }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\t", with: "%09")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "%0A", with: "\n").replacingOccurrences(of: "%09", with: "\t")
            .replacingOccurrences(of: "%25", with: "%")
    }
}
