import Foundation
import GatewayCore
import Operations
import Synchronization

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
    /// How long a given-back slot may wait for an admit to carry it to Redis before the
    /// flusher sends it (`RedisReleaseQueue`).
    static let releaseDelay: Duration = .milliseconds(1)
    /// At most this many slots are removed by one admit script; more go as plain ZREMs.
    static let releasesPerAdmit = 64

    let host: SharedKeyLimits
    private let pool: RedisConnectionPool
    private let failureMode: SharedStateSettings.Failure
    private let leases = RedisLeaseBook()
    private let releases = RedisReleaseQueue()
    /// Admits sent to Redis by this process, to tell a quiet process from a busy one.
    private let admits = Atomic<UInt64>(0)
    private let names = RedisKeys.Book()
    private let batcher = RedisAdmitBatcher()
    private let releaseDelay: Duration
    private let health: RedisHealthReport

    /// Connects at once (within `timeout`); a server that is down then is tried again
    /// every second from `startKeeping` on.
    package init(
        address: RedisAddress, failure: SharedStateSettings.Failure, host: SharedKeyLimits, logger: Logger,
        metrics: Metrics?, maxConnections: Int = 16, releaseDelay: Duration = RedisLimiter.releaseDelay
    ) {
        self.host = host
        self.releaseDelay = releaseDelay
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
        // No other admit since this request's own: the process is quiet, no admit is
        // likely to come and carry the slot, and a lone client's next request (perhaps on
        // another host) must find it free. It goes at once, with any still waiting.
        if admits.load(ordering: .relaxed) == held.admitted {
            sendReleases(releases.takeAll() + [held])
        } else {
            releases.add(held)
        }
    }

    package func charge(_ digest: KeyDigest, limits: KeyLimits, tokens: Int, cost: Double) {
        // The host table keeps budgets, and its tpm window too: the fallback starts from
        // this host's recent tokens rather than from nothing.
        host.charge(digest, limits: limits, tokens: tokens, cost: cost)
        guard limits.tpm != nil, tokens > 0 else { return }
        // Sent without waiting for the reply: the request has ended, and the next command
        // on the connection reads it.
        _ = pool.run { connection throws(RedisConnection.Failure) in
            try connection.start(
                .charge, keys: [RedisKeys.name(digest, "tokens")], arguments: [String(tokens), Self.idleTTLArgument])
        }
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
        let admitted = admits.add(1, ordering: .relaxed).newValue
        var reserved = limits.parallel == nil ? nil : leases.reserve(digest)
        reserved?.held.admitted = admitted
        let names = names.counters(digest)
        let keys = [names.requests, names.tokens, names.leases]
        var arguments = [
            String(limits.rpm ?? -1), String(limits.tpm ?? -1), String(limits.parallel ?? -1),
            reserved?.held.member ?? "", Self.leaseTTLArgument, Self.idleTTLArgument,
        ]
        // Slots given back meanwhile ride along: this key's in the script, others' ahead of it.
        let carried = releases.takeAll()
        var others: [RedisLeaseBook.Held] = []
        for held in carried {
            if held.digest == digest, arguments.count < 6 + Self.releasesPerAdmit {
                arguments.append(held.member)
            } else {
                others.append(held)
            }
        }
        let ticket = RedisAdmitBatcher.Ticket(keys: keys, arguments: arguments, releases: others)
        batcher.submit(ticket) { batch in sendAdmits(batch) }
        guard let reply = ticket.reply else {
            if pool.isUp { releases.putBack(carried) }
            return nil
        }
        guard let admission = RedisAdmitReply.admission(from: reply, lease: reserved?.lease) else {
            markBroken(reply.errorMessage.map { "admit refused: \($0)" } ?? "unexpected reply to admit")
            return nil
        }
        if case .admitted(let lease?, _, _) = admission, let reserved { leases.record(lease, reserved.held) }
        return admission
    }

    /// Runs a batch of admit scripts in one write and reads their replies in order, the
    /// batch's other given-back slots first. A script the server lost is loaded again and
    /// run once more for the admits that met its absence.
    private func sendAdmits(_ batch: [RedisAdmitBatcher.Ticket]) {
        let replies = pool.run { connection throws(RedisConnection.Failure) in
            try Self.queueReleases(batch.flatMap(\.releases), on: connection)
            for ticket in batch { try connection.appendScript(.admit, keys: ticket.keys, arguments: ticket.arguments) }
            var replies: [RedisReply] = []
            replies.reserveCapacity(batch.count)
            for _ in batch { replies.append(try connection.reply()) }
            for (index, ticket) in batch.enumerated() where replies[index].errorMessage?.hasPrefix("NOSCRIPT") == true {
                replies[index] = try connection.run(.admit, keys: ticket.keys, arguments: ticket.arguments)
            }
            return replies
        }
        for (index, ticket) in batch.enumerated() { ticket.reply = replies?[index] }
    }

    /// Sends the given-back slots no admit has carried yet (the flusher's work).
    func sendWaitingReleases() {
        sendReleases(releases.takeAll())
    }

    /// Tells Redis about given-back slots in one write, not waiting for the replies.
    /// While Redis is down they are dropped: their leases expire there within `leaseTTL`.
    private func sendReleases(_ held: [RedisLeaseBook.Held]) {
        guard !held.isEmpty else { return }
        let sent: Void? = pool.run { connection throws(RedisConnection.Failure) in
            try Self.queueReleases(held, on: connection)
            try connection.writeQueued()
        }
        if sent == nil, pool.isUp { releases.putBack(held) }
    }

    /// One ZREM per key for `held`, queued on `connection`.
    private static func queueReleases(_ held: [RedisLeaseBook.Held], on connection: RedisConnection)
        throws(RedisConnection.Failure)
    {
        guard !held.isEmpty else { return }
        for (digest, members) in Dictionary(grouping: held, by: \.digest) {
            try connection.queue(["ZREM", RedisKeys.name(digest, "leases")] + members.map(\.member))
        }
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
        let flusher = Thread { [self] in
            let delay = TimeInterval(releaseDelay.milliseconds) / 1000
            while true {
                releases.waitForReleases()
                Thread.sleep(forTimeInterval: delay)  // for an admit to carry them, and more to join
                sendWaitingReleases()
            }
        }
        flusher.name = "redis-releases"
        flusher.start()
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

extension RedisLimiter {
    static let leaseTTLArgument = String(leaseTTL.milliseconds)
    static let idleTTLArgument = String(idleTTL.milliseconds)
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
