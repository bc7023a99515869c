import Foundation
import GatewayCore
import Operations
import Synchronization
import UpstreamTransports
import UsageLedger

/// The request pipeline as two steps and a record: `RequestDecider` decides what a
/// request gets (built-in answer, refusal, or an upstream request), `UpstreamRelay`
/// carries an upstream exchange out, and the `RequestRecord` they fill is logged and
/// counted once at the end.
public final class Gateway: RequestHandler, @unchecked Sendable {
    /// Everything derived from one config; swapped whole on reload so a request keeps
    /// the state it started with.
    struct State: Sendable {
        let decider: RequestDecider
        let redactor: SecretRedactor
        /// `max_temp_file_size`: a request keeps the value it started with.
        let spoolLimit: Int
        /// Where the keys' limits are counted (the host-wide table, or Redis in front of
        /// it); `nil` when no key has one.
        let limiter: (any KeyLimiter)?
        /// What tokens cost (`model_cost_map` and the endpoints' own prices).
        let prices: PriceBook
        /// The keys with a `max_budget`, whose other hosts' spend is read once a second.
        let budgetedKeys: [VirtualKey]
        /// `shared_state_failure`: what a budgeted key gets while the shared ledger is away.
        let sharedStateFailure: SharedStateSettings.Failure

        init(config: GatewayConfig, limiter: (any KeyLimiter)?) {
            self.decider = RequestDecider(config: config)
            self.redactor = SecretRedactor(secrets: config.secrets)
            self.spoolLimit = config.maxTempFileSize
            self.limiter = limiter
            self.prices = config.prices
            self.budgetedKeys = config.keys.filter { $0.maxBudget != nil }
            self.sharedStateFailure = config.sharedState.failure
        }
    }

    public static let version = "0.1.0"

    private let state: Locked<State>
    private let relay: UpstreamRelay
    let logger: Logger
    let metrics: Metrics
    /// Where every forwarded request's row goes (docs/USAGE.md, "The ledger"); `nil`
    /// in tests that do not look at it.
    let ledger: SpendLedger?
    private let draining = Atomic<Bool>(false)

    public init(
        config: GatewayConfig, client: any UpstreamClient, logger: Logger, metrics: Metrics = Metrics(), bufferLimit: Int = 8 << 20,
        limiter: (any KeyLimiter)? = nil, ledger: SpendLedger? = nil
    ) {
        self.metrics = metrics
        self.ledger = ledger
        self.state = Locked(State(config: config, limiter: limiter))
        self.relay = UpstreamRelay(
            client: client, buffering: ResponseBuffering(memory: bufferLimit), pollInterval: .milliseconds(100))
        self.logger = logger
    }

    /// Serves `config` from the next request on, counting keys' limits in `limiter`.
    public func replace(config: GatewayConfig, limiter: (any KeyLimiter)? = nil) {
        let next = State(config: config, limiter: limiter)
        state.withLock { $0 = next }
    }

    /// The serving config's keys with a budget.
    var budgetedKeys: [VirtualKey] { state.withLock { $0.budgetedKeys } }

    /// Readiness answers 503 from now on.
    public func beginDraining() { draining.store(true, ordering: .relaxed) }

    public func handle(_ request: GatewayRequest, writer: any ResponseWriter) {
        let started = ContinuousClock.now
        let startedAt = Date().timeIntervalSince1970
        metrics.requestStarted()
        var record = RequestRecord(requestID: request.requestID ?? UUID().uuidString.asciiLowercased, method: request.method)
        let state = state.withLock { $0 }
        let decision = state.decider.decide(request)
        record.route = decision.route
        record.caller = decision.caller
        var action = decision.action
        var writer = writer
        var lease: KeyLease?
        var charged: VirtualKey?
        if let key = decision.caller.key {
            var remaining: Int?
            var remainingTokens: Int?
            if case .forward = action, !key.limits.isEmpty {
                switch admit(key, in: state.limiter, failure: state.sharedStateFailure) {
                case .admitted(let held, let left, let leftTokens):
                    lease = held
                    remaining = left
                    remainingTokens = leftTokens
                    if key.limits.isCharged { charged = key }
                case .unavailable(let retryAfter):
                    action = .refuse(KeyRefusal.limitStoreUnavailable(retryAfter: retryAfter))
                case .refused(.budget, let retryAfter, let spend):
                    action = .refuse(KeyRefusal.budgetExceeded(key, spend: spend ?? 0, retryAfter: retryAfter))
                case .refused(let rule, let retryAfter, _):
                    let limit =
                        switch rule {
                        case .rpm: key.rpmLimit
                        case .tpm: key.tpmLimit
                        case .parallel, .budget: key.maxParallelRequests
                        }
                    action = .refuse(KeyRefusal.limited(rule, limit: limit ?? 0, retryAfter: retryAfter))
                    if rule == .rpm { remaining = 0 }
                    if rule == .tpm { remainingTokens = 0 }
                }
            }
            writer = KeyHeadersWriter(
                writer,
                adding: KeyHeadersWriter.headers(
                    alias: key.alias, rpmLimit: key.rpmLimit, remaining: remaining, tpmLimit: key.tpmLimit,
                    remainingTokens: remainingTokens))
        }
        defer { if let lease { state.limiter?.release(lease) } }
        switch action {
        case .describe(let key):
            let answer = BuiltInAnswer(describing: key, spend: spend(of: key))
            record.bytesOut = write(answer, method: request.method, requestID: record.requestID, to: writer)
            record.outcome = .completed(status: answer.status)
        case .spendLogs(let ask):
            let answer = BuiltInAnswer(spendLogs: ask, ledger: ledger)
            record.bytesOut = write(answer, method: request.method, requestID: record.requestID, to: writer)
            record.outcome = .completed(status: answer.status)
        case .answer(let route):
            let answer = BuiltInAnswer(
                route, ready: !draining.load(ordering: .relaxed), version: Self.version, metrics: metrics)
            record.bytesOut = write(answer, method: request.method, requestID: record.requestID, to: writer)
            record.outcome = .completed(status: answer.status)
        case .refuse(let error):
            writer.write(error, requestID: record.requestID)
            record.outcome = .failed(error)
        case .forward(let upstream):
            record.bytesIn = upstream.body.count
            let metering = decision.route.endpoint.flatMap { endpoint in
                endpoint.usageFormat == .none
                    ? nil : MeteringWriter(writer, format: endpoint.usageFormat, requestModel: decision.requestModel)
            }
            let relayed = relay.run(
                upstream, requestID: record.requestID, redactor: state.redactor, spoolLimit: state.spoolLimit,
                writer: metering ?? writer)
            record.outcome = relayed.outcome
            record.timeToFirstByte = relayed.timeToFirstByte
            record.bytesOut = relayed.bytesOut
            record.failure = relayed.failure
            if let metering {
                let complete = if case .completed = relayed.outcome { true } else { false }
                record.usage = metering.finish(complete: complete)
            }
            price(&record, prices: state.prices)
            if let charged {
                state.limiter?.charge(
                    charged.digest, limits: charged.limits, tokens: record.usage?.totalTokens ?? 0, cost: record.cost ?? 0)
            }
        }
        record.duration = ContinuousClock.now - started
        account(record)
        if case .forward = action { ledger?.record(SpendRow(record, startedAt: startedAt)) }
    }

    /// Sets the request's cost: `cost_per_request` plus its tokens, for an answer below
    /// 400; a refused or failed call costs nothing.
    private func price(_ record: inout RequestRecord, prices: PriceBook) {
        guard let endpoint = record.route.endpoint else { return }
        guard record.status < 400 else {
            record.cost = 0
            return
        }
        let usage = record.usage ?? Usage()
        let priced = prices.cost(of: usage, format: endpoint.usageFormat, endpoint: endpoint)
        record.cost = priced.cost
        // Only a response whose usage was read can go unpriced; an unread one is unmetered.
        record.priced = !usage.metered || priced.priced
    }

    /// A key's spend in its current budget window (all time without one), as the ledger
    /// has it (0 when it cannot be read).
    private func spend(of key: VirtualKey) -> Double {
        let since = key.limits.budget?.windowStart(at: Int(Date().timeIntervalSince1970)) ?? 0
        return (try? ledger?.spendOf(keyAlias: key.alias, since: Double(since))) ?? 0
    }

    /// Counts the request against the key's limits. Without a table to count in (it
    /// could not be opened) a limited key is refused rather than let through unlimited.
    ///
    /// A budget the table does not know the key's spend for yet (after a reboot, or a key
    /// new to the table) is first seeded from the ledger's rows for the window.
    private func admit(_ key: VirtualKey, in limiter: (any KeyLimiter)?, failure: SharedStateSettings.Failure)
        -> KeyAdmission
    {
        guard let limiter else { return .refused(.parallel, retryAfter: 5) }
        let limits = key.limits
        // A budget counts the other hosts' spend from the shared ledger: with it away and
        // `shared_state_failure: closed`, the key is refused rather than held to figures
        // that may be stale.
        if limits.budget != nil, failure == .closed, let ledger, ledger.isShared, ledger.stats.sharedStoreUp == false {
            return .unavailable(retryAfter: 1)
        }
        if let ledger, let windowStart = limiter.unseededBudgetWindow(key.digest, limits: limits),
            // With a shared ledger the table counts this host's own spend; the other
            // hosts' comes from SharedSpendRefresher.
            let spend = try? ledger.spendOf(
                keyAlias: key.alias, since: Double(windowStart), hosts: ledger.isShared ? .only(ledger.hostID) : .all)
        {
            limiter.seed(key.digest, limits: limits, windowStart: windowStart, spend: spend)
        }
        return limiter.admit(key.digest, limits: limits)
    }

    /// Writes a built-in answer (no body for `HEAD`); returns the body bytes written.
    private func write(_ answer: BuiltInAnswer, method: String, requestID: String, to writer: any ResponseWriter) -> Int {
        var headers = answer.headers
        headers.set("Content-Length", String(answer.body.count))
        headers.set("x-litellm-call-id", requestID)
        _ =
            writer.writeHead(status: answer.status, headers: headers)
            && (method == "HEAD" || writer.writeBody(answer.body, flush: false))
        return answer.body.count
    }
}
