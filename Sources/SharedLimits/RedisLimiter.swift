import Foundation
import GatewayCore
import Operations

/// Keys' limits counted in Redis, shared by every gateway host (docs/SHARED_STATE.md,
/// "Limits in Redis"): `rpm_limit`, `tpm_limit` and `max_parallel_requests` are decided
/// by one script per request on the server; `max_budget` stays in the host table.
///
/// The host table is also the fallback: while Redis cannot be reached, requests are
/// counted host-wide (`shared_state_failure: open`) or key-limited ones refused with 503
/// (`closed`), and the keeper thread tries Redis again every second.
package final class RedisLimiter: KeyLimiter, @unchecked Sendable {
    /// How long a parallel slot outlives its last refresh: a host that dies frees its
    /// slots within this time. Held slots are refreshed every `refreshInterval`.
    package static let leaseTTL: Duration = .seconds(15)
    package static let refreshInterval: Duration = .seconds(5)
    /// How long a key's windows stay in Redis after its last request.
    static let idleTTL: Duration = .seconds(120)
    /// Connect and command timeout: a hung server costs a request at most this much.
    package static let timeout: Duration = .milliseconds(250)

    let host: SharedKeyLimits
    private let pool: RedisConnectionPool
    private let failureMode: SharedStateSettings.Failure
    private let leases = RedisLeaseBook()
    private let health: RedisHealthReport

    /// Connects at once (within `timeout`); a server that is down then is tried again
    /// every second from `startKeeping` on.
    package init(
        address: RedisAddress, failure: SharedStateSettings.Failure, host: SharedKeyLimits, logger: Logger,
        metrics: Metrics?, maxConnections: Int = 16
    ) {
        self.host = host
        self.failureMode = failure
        self.pool = RedisConnectionPool(address: address, timeout: Self.timeout, maxConnections: maxConnections)
        self.health = RedisHealthReport(address: address, failure: failure, logger: logger, metrics: metrics)
        health.report(up: pool.probe(), reason: pool.failure)
    }

    package var isUp: Bool { pool.isUp }

    // MARK: KeyLimiter

    package func admit(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission {
        guard limits.rpm != nil || limits.tpm != nil || limits.parallel != nil else {
            return host.admit(digest, limits: limits)  // a budget alone: the host table's
        }
        if let budget = limits.budget, let refusal = budgetRefusal(digest, budget: budget) { return refusal }
        if let admission = admitInRedis(digest, limits: limits) { return admission }
        switch failureMode {
        case .open: return host.admit(digest, limits: limits)
        case .closed: return .unavailable(retryAfter: 1)
        }
    }

    package func release(_ lease: KeyLease) {
        guard RedisLeaseBook.isRedisLease(lease) else { return host.release(lease) }
        guard let held = leases.remove(lease) else { return }
        // While Redis is down the slot expires there by itself within `leaseTTL`.
        _ = pool.run { connection throws(RedisConnection.Failure) in
            try connection.send(["ZREM", RedisKeys.name(held.digest, "leases"), held.member])
        }
    }

    package func charge(_ digest: KeyDigest, limits: KeyLimits, tokens: Int, cost: Double) {
        // The host table keeps budgets, and its tpm window too: the fallback starts from
        // this host's recent tokens rather than from nothing.
        host.charge(digest, limits: limits, tokens: tokens, cost: cost)
        guard limits.tpm != nil, tokens > 0 else { return }
        let reply = pool.run { connection throws(RedisConnection.Failure) in
            try connection.run(
                .charge, keys: [RedisKeys.name(digest, "tokens")],
                arguments: [String(tokens), String(Self.idleTTL.milliseconds)])
        }
        if let reply, reply.errorMessage != nil { markBroken("charge refused: \(reply.errorMessage ?? "")") }
    }

    package func unseededBudgetWindow(_ digest: KeyDigest, limits: KeyLimits) -> Int? {
        host.unseededBudgetWindow(digest, limits: limits)
    }

    package func seed(_ digest: KeyDigest, limits: KeyLimits, windowStart: Int, spend: Double) {
        host.seed(digest, limits: limits, windowStart: windowStart, spend: spend)
    }

    // MARK: deciding

    /// The admit script's answer; `nil` when Redis could not give one.
    private func admitInRedis(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission? {
        let reserved = limits.parallel == nil ? nil : leases.reserve(digest)
        let names = RedisKeys.counters(digest)
        let keys = [names.requests, names.tokens, names.leases]
        let arguments = [
            String(limits.rpm ?? -1), String(limits.tpm ?? -1), String(limits.parallel ?? -1),
            reserved?.held.member ?? "", String(Self.leaseTTL.milliseconds), String(Self.idleTTL.milliseconds),
        ]
        guard
            let reply = pool.run({ connection throws(RedisConnection.Failure) in
                try connection.run(.admit, keys: keys, arguments: arguments)
            })
        else { return nil }
        guard let admission = RedisAdmitReply.admission(from: reply, lease: reserved?.lease) else {
            markBroken(reply.errorMessage.map { "admit refused: \($0)" } ?? "unexpected reply to admit")
            return nil
        }
        if case .admitted(let lease?, _, _) = admission, let reserved { leases.record(lease, reserved.held) }
        return admission
    }

    /// The host table's budget check, as `SharedKeyLimits.admit` makes it (LiteLLM's
    /// rule: refused once the spend reaches the budget): this host's spend plus the other
    /// hosts' as the shared ledger last said.
    private func budgetRefusal(_ digest: KeyDigest, budget: KeyBudget) -> KeyAdmission? {
        let spend = host.budgetSpend(digest, budget: budget).spend + host.otherHostsSpend(digest, budget: budget)
        guard spend >= budget.maxBudget else { return nil }
        let retryAfter = budget.secondsToWindowEnd(at: Int(Date().timeIntervalSince1970)) ?? 0
        return .refused(.budget, retryAfter: retryAfter, spend: spend)
    }

    /// A reply the scripts never give (an error from the server): treated as an outage.
    private func markBroken(_ reason: String) {
        pool.markDown(reason)
        health.report(up: false, reason: reason)
    }

    // MARK: keeping

    /// Starts the thread that, every second, tries Redis again while it is down and
    /// reports its state, and every `refreshInterval` refreshes the leases held here.
    package func startKeeping() {
        let thread = Thread { [self] in
            var lastRefresh = ContinuousClock.now
            while true {
                Thread.sleep(forTimeInterval: 1)
                health.report(up: pool.probe(), reason: pool.failure)
                if ContinuousClock.now - lastRefresh >= Self.refreshInterval {
                    lastRefresh = .now
                    refreshLeases()
                }
            }
        }
        thread.name = "redis-limits"
        thread.start()
    }

    /// Pushes back the expiry of every lease still held, one script per key.
    func refreshLeases() {
        for (digest, members) in leases.byKey() {
            _ = pool.run { connection throws(RedisConnection.Failure) in
                try connection.run(
                    .refresh, keys: [RedisKeys.name(digest, "leases")],
                    arguments: [String(Self.leaseTTL.milliseconds)] + members)
            }
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
