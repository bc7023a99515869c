import Foundation
import GatewayCore
import Synchronization

/// The instance's counters, rendered in Prometheus text format at `GET /metrics`.
///
/// Labels are low-cardinality by construction: the route label is the endpoint's `id`
/// or configured path, never the client's subpath; methods outside the standard set
/// are folded into `OTHER`; statuses and kinds are gateway-chosen. Under a supervisor,
/// each worker publishes its counters to a `MetricsRegion` slot and a scrape adds up
/// every slot, so the numbers describe the whole instance.
public final class Metrics: Sendable {
    /// This process's counters and the model labels it has admitted.
    private struct Live {
        var counters = MetricCounters()
        var models = ModelLabels()

        /// The request's cost, tokens and metering outcome; the model label is chosen
        /// only when a series needs it, so unlabelled requests spend no label budget.
        mutating func count(usageOf record: RequestRecord, route: String, alias: String) {
            let cost = record.status < 400 ? record.cost : nil
            guard cost != nil || record.usage != nil else { return }
            var counts = MetricCounters.SpendCounts(cost: cost)
            var metered = false
            if let usage = record.usage {
                guard usage.metered else {
                    counters.unmetered[route, default: 0] += 1
                    if cost != nil { add(counts, route: route, alias: alias, model: record.model) }
                    return
                }
                metered = true
                counts.tokens = MetricCounters.TokenCounts(
                    cacheRead: usage.cacheReadTokens, cacheWrite: usage.cacheWriteTokens, input: usage.inputTokens,
                    output: usage.outputTokens)
                counts.searchUnits = usage.searchUnits
            }
            let model = add(counts, route: route, alias: alias, model: record.model)
            if metered && !record.priced { counters.unpriced[.init(route: route, model: model), default: 0] += 1 }
        }

        /// Adds `counts` to their series and returns the model label they went under.
        @discardableResult
        private mutating func add(_ counts: MetricCounters.SpendCounts, route: String, alias: String, model: String?) -> String {
            var key = MetricCounters.SpendKey(route: route, keyAlias: alias, model: model ?? "")
            if let known = counters.spend.index(forKey: key) {
                // Counted before under its own name, so the name is an admitted label: one
                // lookup instead of the label's and the series'.
                counters.spend.values[known].add(counts)
            } else {
                key.model = models.label(route: route, keyAlias: alias, model: model)
                if !counts.isEmpty { counters.spend[key, default: MetricCounters.SpendCounts()].add(counts) }
            }
            return key.model
        }
    }

    private let live = Locked(Live())
    /// The ledger counters the slot's previous process had reached: this process's own
    /// start from zero and are added, so the counters never go back.
    private let ledgerBase: MetricCounters.LedgerCounters
    private let inFlight = Atomic<Int>(0)
    private let started = Date()
    private let shared: (region: MetricsRegion, slot: Int)?
    private let threads: Int
    /// A slot has one writer at a time (the sequence lock assumes it).
    private let publishing = Locked(())

    /// - Parameters:
    ///   - shared: the region and this worker's slot; its previous snapshot (a recycled
    ///     predecessor's) is the starting point.
    ///   - threads: this process's worker threads, published as its share of the cap.
    public init(shared: (region: MetricsRegion, slot: Int)? = nil, threads: Int = 0) {
        self.shared = shared
        self.threads = threads
        var base = MetricCounters.LedgerCounters()
        if let shared {
            var inherited = MetricCounters(decoding: shared.region.read(slot: shared.slot))
            inherited.inFlight = 0  // the predecessor's requests ended with it
            inherited.ledger?.pending = 0  // and so did its queue
            base = inherited.ledger ?? base
            live.withLock { live in
                live.counters = inherited
                live.models.adopt(inherited)
            }
        }
        ledgerBase = base
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    package func requestStarted() { inFlight.add(1, ordering: .relaxed) }

    /// A request answered 503 without being served (LIFE-01, LIFE-02).
    func requestRefused(_ reason: RefusalReason) {
        live.withLock { $0.counters.refused[reason.rawValue, default: 0] += 1 }
    }

    package func requestFinished(_ record: RequestRecord) {
        inFlight.subtract(1, ordering: .relaxed)
        let method = Self.knownMethods.contains(record.method) ? record.method : "OTHER"
        let route = record.routeLabel
        let status = record.status
        let alias = record.caller.alias
        live.withLock { live in
            live.count(usageOf: record, route: route, alias: alias)
            live.counters.requests[.init(route: route, method: method, status: status, keyAlias: alias), default: 0] += 1
            if let failure = record.failure {
                live.counters.upstreamErrors[.init(route: route, kind: failure), default: 0] += 1
            }
            live.counters.bytesIn[route, default: 0] += record.bytesIn
            live.counters.bytesOut[route, default: 0] += record.bytesOut
            live.counters.duration[route, default: .init()].observe(record.duration.seconds)
            if let ttfb = record.timeToFirstByte {
                live.counters.timeToFirstByte[route, default: .init()].observe(ttfb.seconds)
            }
        }
    }

    /// Whether this process reaches the shared `store` (`redis`, `postgresql`) it is
    /// configured with; a scrape shows 0 when any process does not.
    public func sharedStore(_ store: String, up: Bool) {
        live.withLock { $0.counters.sharedStores[store] = up }
    }

    /// Publishes the spend ledger's writer counters (`SpendLedger.Stats`): this process's
    /// own totals since it opened the ledger, called periodically by its owner. A scrape
    /// adds up every worker's.
    public func ledgerStats(pending: Int, writeFailures: Int, dropped: Int, spooled: Int = 0, replayed: Int = 0) {
        let stats = MetricCounters.LedgerCounters(
            pending: pending, writeFailures: ledgerBase.writeFailures + writeFailures, dropped: ledgerBase.dropped + dropped,
            spooled: ledgerBase.spooled + spooled, replayed: ledgerBase.replayed + replayed)
        live.withLock { $0.counters.ledger = stats }
    }

    /// Writes this worker's counters to its slot; called periodically and before exit.
    /// Never inlined: inlined into `startPublishing`'s endless loop, Swift 6.3.1's SIL
    /// loop-invariant code motion spends tens of minutes on that one loop in a release build.
    @inline(never)
    public func publish() {
        guard let shared else { return }
        publishing.withLock { _ in
            var snapshot = live.withLock { $0.counters }
            snapshot.inFlight = inFlight.load(ordering: .relaxed)
            snapshot.threads = threads
            shared.region.publish(snapshot.encoded(), slot: shared.slot)
        }
    }

    /// Starts publishing every `interval` on a background thread.
    public func startPublishing(every interval: Double = 0.25) {
        guard shared != nil else { return }
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                publish()
            }
        }
        thread.name = "fcgi-metrics"
        thread.start()
    }

    /// Every worker's counters added up (this one's live, the others' last published).
    func instanceTotals() -> MetricCounters {
        var totals = live.withLock { $0.counters }
        totals.inFlight = inFlight.load(ordering: .relaxed)
        totals.threads = threads
        if let shared {
            for slot in 0..<shared.region.slotCount where slot != shared.slot {
                totals.merge(MetricCounters(decoding: shared.region.read(slot: slot)))
            }
        }
        return totals
    }

    /// The Prometheus text exposition (version 0.0.4).
    package func render(version: String) -> String {
        let c = instanceTotals()
        var out = PrometheusText()
        out.family("fcgi_pass_through_build_info", "gauge", "Build information.")
        out.sample("fcgi_pass_through_build_info", ["version": version], 1)
        out.family("fcgi_pass_through_start_time_seconds", "gauge", "Start time of the answering process, Unix seconds.")
        out.sample("fcgi_pass_through_start_time_seconds", [:], Double(Int(started.timeIntervalSince1970)))
        if let region = shared?.region {
            out.family("fcgi_pass_through_workers_alive", "gauge", "Worker processes running.")
            out.sample("fcgi_pass_through_workers_alive", [:], Double(region.workersAlive))
            out.family("fcgi_pass_through_worker_restarts_total", "counter", "Worker processes started again after exiting.")
            out.sample("fcgi_pass_through_worker_restarts_total", [:], Double(region.restarts))
        }
        out.family("fcgi_pass_through_requests_in_flight", "gauge", "Requests being served (other workers as of their last publication).")
        out.sample("fcgi_pass_through_requests_in_flight", [:], Double(c.inFlight))
        out.family("fcgi_pass_through_threads", "gauge", "Worker threads: requests served at once; more are refused with 503.")
        out.sample("fcgi_pass_through_threads", [:], Double(c.threads))
        out.family(
            "fcgi_pass_through_requests_refused_total", "counter", "Requests answered 503 unserved: busy (every thread was), draining.")
        for reason in RefusalReason.allCases {
            out.sample("fcgi_pass_through_requests_refused_total", ["reason": reason.rawValue], Double(c.refused[reason.rawValue] ?? 0))
        }
        out.family(
            "fcgi_pass_through_requests_total", "counter",
            "Finished requests by route, method, status and key_alias (absent: no key was needed).")
        for (key, n) in c.requests.sorted(by: { $0.key < $1.key }) {
            var labels = ["route": key.route, "method": key.method, "status": String(key.status)]
            if !key.keyAlias.isEmpty { labels["key_alias"] = key.keyAlias }
            out.sample("fcgi_pass_through_requests_total", labels, Double(n))
        }
        out.family("fcgi_pass_through_upstream_errors_total", "counter", "Upstream failures by route and kind.")
        for (key, n) in c.upstreamErrors.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_upstream_errors_total", ["route": key.route, "kind": key.kind], Double(n))
        }
        renderUsage(c, into: &out)
        out.family("fcgi_pass_through_request_bytes_total", "counter", "Request body bytes received from clients.")
        for (route, n) in c.bytesIn.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_request_bytes_total", ["route": route], Double(n))
        }
        out.family("fcgi_pass_through_response_bytes_total", "counter", "Response body bytes sent to clients.")
        for (route, n) in c.bytesOut.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_response_bytes_total", ["route": route], Double(n))
        }
        out.histograms("fcgi_pass_through_request_duration_seconds", "Time from request to the end of the response.", c.duration)
        out.histograms(
            "fcgi_pass_through_upstream_first_byte_seconds", "Time from request to the upstream's response head.", c.timeToFirstByte)
        return out.text
    }

    /// The cost, token, metering and ledger families.
    private func renderUsage(_ c: MetricCounters, into out: inout PrometheusText) {
        func labels(_ key: MetricCounters.SpendKey) -> [String: String] {
            var labels = ["route": key.route]
            if !key.keyAlias.isEmpty { labels["key_alias"] = key.keyAlias }
            if !key.model.isEmpty { labels["model"] = key.model }
            return labels
        }
        out.family(
            "fcgi_pass_through_cost_usd_total", "counter",
            "USD spent by successful requests: cost_per_request plus the price of their tokens.")
        let spend = c.spend.sorted(by: { $0.key < $1.key })
        for (key, counts) in spend {
            if let value = counts.cost { out.sample("fcgi_pass_through_cost_usd_total", labels(key), value) }
        }
        out.family(
            "fcgi_pass_through_tokens_total", "counter",
            "Tokens metered from responses by type: input, output, cache_read, cache_write.")
        for (key, counts) in spend {
            for type in MetricCounters.TokenType.allCases where counts.tokens[type] != 0 {
                var labels = labels(key)
                labels["type"] = type.rawValue
                out.sample("fcgi_pass_through_tokens_total", labels, Double(counts.tokens[type]))
            }
        }
        out.family("fcgi_pass_through_search_units_total", "counter", "Search units billed by Cohere.")
        for (key, n) in c.searchUnitsByAlias.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_search_units_total", labels(.init(route: key.route, keyAlias: key.keyAlias)), Double(n))
        }
        out.family(
            "fcgi_pass_through_unmetered_total", "counter",
            "Requests to a metering endpoint whose response carried no usage the gateway could read.")
        for (route, n) in c.unmetered.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_unmetered_total", ["route": route], Double(n))
        }
        out.family("fcgi_pass_through_unpriced_total", "counter", "Metered requests whose model has no price.")
        for (key, n) in c.unpriced.sorted(by: { $0.key < $1.key }) {
            out.sample("fcgi_pass_through_unpriced_total", labels(.init(route: key.route, model: key.model)), Double(n))
        }
        if !c.sharedStores.isEmpty {
            out.family(
                "fcgi_pass_through_shared_store_up", "gauge",
                "1 when every gateway process reaches the shared store (redis, postgresql), else 0.")
            for (store, up) in c.sharedStores.sorted(by: { $0.key < $1.key }) {
                out.sample("fcgi_pass_through_shared_store_up", ["store": store], up ? 1 : 0)
            }
        }
        guard let ledger = c.ledger else { return }
        out.family("fcgi_pass_through_ledger_rows_pending", "gauge", "Spend ledger rows queued and not yet written.")
        out.sample("fcgi_pass_through_ledger_rows_pending", [:], Double(ledger.pending))
        out.family(
            "fcgi_pass_through_ledger_write_failures_total", "counter",
            "Spend ledger batches that failed to write and stayed queued.")
        out.sample("fcgi_pass_through_ledger_write_failures_total", [:], Double(ledger.writeFailures))
        out.family(
            "fcgi_pass_through_ledger_rows_dropped_total", "counter",
            "Spend ledger rows dropped, oldest first, because the queue was full.")
        out.sample("fcgi_pass_through_ledger_rows_dropped_total", [:], Double(ledger.dropped))
        guard c.sharedStores["postgresql"] != nil else { return }
        out.family(
            "fcgi_pass_through_ledger_rows_spooled_total", "counter",
            "Spend ledger rows written to the host's spool file because PostgreSQL could not be reached.")
        out.sample("fcgi_pass_through_ledger_rows_spooled_total", [:], Double(ledger.spooled))
        out.family(
            "fcgi_pass_through_ledger_rows_replayed_total", "counter",
            "Spooled spend ledger rows moved to PostgreSQL once it could be reached again.")
        out.sample("fcgi_pass_through_ledger_rows_replayed_total", [:], Double(ledger.replayed))
    }
}

/// Builds the Prometheus text exposition format.
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\"\(Self.escape($0.value))\"" }
        text += name + (rendered.isEmpty ? "" : "{" + rendered.joined(separator: ",") + "}") + " " + Self.format(value) + "\n"
    }

    mutating func histograms(_ name: String, _ help: String, _ table: [String: MetricCounters.Histogram]) {
        family(name, "histogram", help)
        for (route, h) in table.sorted(by: { $0.key < $1.key }) {
            var cumulative = 0
            for (bound, n) in zip(MetricCounters.Histogram.bounds, h.buckets) {
                cumulative += n
                sample(name + "_bucket", ["route": route, "le": Self.format(bound)], Double(cumulative))
            }
            sample(name + "_bucket", ["route": route, "le": "+Inf"], Double(h.count))
            sample(name + "_sum", ["route": route], h.sum)
            sample(name + "_count", ["route": route], Double(h.count))
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// Label value escaping (backslash, quote, newline) per the text format.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
