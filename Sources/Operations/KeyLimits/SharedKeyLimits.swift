import Foundation
import GatewayCore

/// The host-wide table behind `rpm_limit`, `max_parallel_requests`, `tpm_limit` and
/// `max_budget` (docs/KEYS.md, "Limits across processes"): every worker of every instance
/// maps the same file, so a key's limits hold however many processes nginx spreads its
/// requests over.
///
/// Per key: a 60-second window in one-second buckets (requests, and tokens of finished
/// requests), the requests in flight, each held as a lease naming the process that holds
/// it, and the spend in the current budget window. Everything happens under one robust,
/// process-shared mutex; the few system calls that find dead processes run outside it.
/// When the table cannot count (mutex unusable, no free slot or lease) the request is
/// admitted uncounted and the matching counter goes up: a limiter fault must not take
/// every key's traffic down with it.
package final class SharedKeyLimits: KeyLimiter, @unchecked Sendable {
    /// Keys the table can hold at once; `KeyLimits.maxKeysPerConfig` is half of it.
    package static let maxKeys = KeyLimitsLayout.slotCount

    private let base: UnsafeMutableRawPointer
    private let header: KeyLimitsHeader
    private let table: KeyLimitTable
    let mutex: RobustMutex
    private let now: @Sendable () -> Double
    /// This process, as it is written into the leases it takes.
    let holder: LeaseHolder

    private init(base: UnsafeMutableRawPointer, now: @escaping @Sendable () -> Double) {
        self.base = base
        self.header = KeyLimitsHeader(base: base)
        self.table = KeyLimitTable(base: base)
        self.mutex = header.mutex
        self.now = now
        self.holder = .current()
    }

    deinit { munmap(base, KeyLimitsLayout.size) }

    /// Maps the table at `path`, creating or re-initialising the file as needed.
    package static func open(
        path: String, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) throws(KeyLimitsFileError) -> SharedKeyLimits {
        SharedKeyLimits(base: try KeyLimitsFile.map(path: path), now: now)
    }

    /// A table of this process's own, in shared anonymous memory.
    package static func anonymous(
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) -> SharedKeyLimits {
        SharedKeyLimits(base: KeyLimitsFile.mapAnonymous(), now: now)
    }

    // MARK: KeyLimiter

    package func admit(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission {
        admit(digest, limits: limits, holder: holder)
    }

    /// `admit` on behalf of `holder` (tests stand in for other processes with it).
    func admit(_ digest: KeyDigest, limits: KeyLimits, holder: LeaseHolder) -> KeyAdmission {
        guard !limits.isEmpty else { return .admitted(lease: nil, remainingRequests: nil) }
        var mayReclaim = true
        while true {
            guard mutex.lock() else { return failOpen(.lockFailureCount) }
            // The clock is read with the mutex held (see `withMutex`).
            let step = decide(digest, limits: limits, holder: holder, at: currentSecond(), mayReclaim: mayReclaim)
            mutex.unlock()
            switch step {
            case .answer(let admission): return admission
            case .reclaim(let candidates):
                reclaim(candidates)
                mayReclaim = false
            }
        }
    }

    package func charge(_ digest: KeyDigest, limits: KeyLimits, tokens: Int, cost: Double) {
        guard limits.isCharged else { return }
        _ = withMutex { table, second in
            guard let index = table.findOrClaim(digest, at: second) else {
                countFailure(.tableFullCount)
                return
            }
            let slot = table.slot(index)
            if limits.tpm != nil { slot.countTokens(tokens, at: second) }
            if let budget = limits.budget, cost.isFinite, cost > 0 {
                slot.addSpend(cost, windowStart: Self.windowStart(of: budget, at: second))
            }
        }
    }

    package func unseededBudgetWindow(_ digest: KeyDigest, limits: KeyLimits) -> Int? {
        guard let budget = limits.budget else { return nil }
        let unseeded = withMutex { table, second -> Int? in
            let windowStart = Self.windowStart(of: budget, at: second)
            guard let index = table.find(digest), table.slot(index).budget(windowStart: windowStart).seeded else {
                return Int(windowStart)
            }
            return nil
        }
        // A table that cannot be locked is not asked again and again: admission fails open.
        return unseeded ?? nil
    }

    package func seed(_ digest: KeyDigest, limits: KeyLimits, windowStart: Int, spend: Double) {
        guard let budget = limits.budget else { return }
        _ = withMutex { table, second in
            let current = Self.windowStart(of: budget, at: second)
            guard Int(current) == windowStart else { return }  // the window moved on: it starts at 0
            guard let index = table.findOrClaim(digest, at: second) else {
                countFailure(.tableFullCount)
                return
            }
            table.slot(index).seed(spend, windowStart: current)
        }
    }

    /// Takes what the other hosts spent in `digest`'s budget window starting at
    /// `windowStart`, read from the shared ledger (docs/SHARED_STATE.md, "Budgets across
    /// hosts"); ignored once the window has moved on.
    package func setOtherHostsSpend(_ digest: KeyDigest, limits: KeyLimits, windowStart: Int, spend: Double) {
        guard let budget = limits.budget else { return }
        _ = withMutex { table, second in
            let current = Self.windowStart(of: budget, at: second)
            guard Int(current) == windowStart else { return }
            guard let index = table.findOrClaim(digest, at: second) else {
                countFailure(.tableFullCount)
                return
            }
            table.slot(index).setOtherHostsSpend(spend, windowStart: current)
        }
    }

    /// Whether this process should read the other hosts' spend now: `true` for the first
    /// process to ask in a given second, so a host with many workers asks the shared
    /// ledger once a second, not once per worker.
    package func claimSharedSpendRefresh() -> Bool {
        return withMutex { table, second in
            guard table.budgetRefreshSecond != second else { return false }
            table.budgetRefreshSecond = second
            return true
        } ?? false
    }

    package func release(_ lease: KeyLease) {
        guard mutex.lock() else {
            countFailure(.lockFailureCount)
            return
        }
        if let index = table.heldEntry(lease) { table.free(lease: index) }
        mutex.unlock()
    }

    // MARK: inspection

    /// What the table holds for `digest` now.
    package func usage(_ digest: KeyDigest) -> (requestsInWindow: Int, inFlight: Int) {
        withMutex { table, second in
            guard let index = table.find(digest) else { return (0, 0) }
            let slot = table.slot(index)
            return (slot.window(at: second).count, Int(slot.inFlight))
        } ?? (0, 0)
    }

    /// The tokens in `digest`'s tpm window now.
    package func tokensInWindow(_ digest: KeyDigest) -> Int {
        withMutex { table, second in table.find(digest).map { table.slot($0).tokenWindow(at: second).tokens } ?? 0 } ?? 0
    }

    /// `digest`'s spend in `budget`'s current window as the table has it, and whether it
    /// is known (seeded).
    package func budgetSpend(_ digest: KeyDigest, budget: KeyBudget) -> (spend: Double, seeded: Bool) {
        withMutex { table, second in
            let windowStart = Self.windowStart(of: budget, at: second)
            return table.find(digest).map { table.slot($0).budget(windowStart: windowStart) } ?? (0, false)
        } ?? (0, false)
    }

    /// What other hosts spent in `budget`'s current window, as the table last heard.
    package func otherHostsSpend(_ digest: KeyDigest, budget: KeyBudget) -> Double {
        withMutex { table, second in
            let windowStart = Self.windowStart(of: budget, at: second)
            return table.find(digest).map { table.slot($0).otherHostsSpend(windowStart: windowStart) } ?? 0
        } ?? 0
    }

    /// Requests admitted uncounted because no key slot or lease entry was free.
    package var tableFullCount: Int { counter(.tableFullCount) }
    /// Requests admitted uncounted because the mutex could not be locked.
    package var lockFailureCount: Int { counter(.lockFailureCount) }

    // MARK: deciding

    private enum Step {
        case answer(KeyAdmission)
        /// At the parallel limit with leases of other processes: look for dead ones.
        case reclaim([(lease: KeyLease, holder: LeaseHolder)])
    }

    /// One admission, mutex held. A request is counted only once it passes both limits.
    private func decide(
        _ digest: KeyDigest, limits: KeyLimits, holder: LeaseHolder, at second: UInt32, mayReclaim: Bool
    ) -> Step {
        guard let index = table.findOrClaim(digest, at: second) else {
            countFailure(.tableFullCount)
            return .answer(.admitted(lease: nil, remainingRequests: nil))
        }
        let slot = table.slot(index)
        if let budget = limits.budget {
            // LiteLLM's rule: refused once the spend reaches the budget (`spend >= max_budget`):
            // this host's, exact, plus the other hosts' as the shared ledger last said.
            let windowStart = Self.windowStart(of: budget, at: second)
            let spend = slot.budget(windowStart: windowStart).spend + slot.otherHostsSpend(windowStart: windowStart)
            if spend >= budget.maxBudget {
                let retryAfter = budget.secondsToWindowEnd(at: Int(second)) ?? 0
                return .answer(.refused(.budget, retryAfter: retryAfter, spend: spend))
            }
        }
        let window = slot.window(at: second)
        if let rpm = limits.rpm, window.count >= rpm {
            let retryAfter = KeyLimitsLayout.windowSeconds - (window.oldestAge ?? 0)
            return .answer(.refused(.rpm, retryAfter: max(1, retryAfter)))
        }
        var remainingTokens: Int?
        if let tpm = limits.tpm {
            let tokens = slot.tokenWindow(at: second)
            if tokens.tokens >= tpm {
                let retryAfter = KeyLimitsLayout.windowSeconds - (tokens.oldestAge ?? 0)
                return .answer(.refused(.tpm, retryAfter: max(1, retryAfter)))
            }
            remainingTokens = tpm - tokens.tokens
        }
        if let parallel = limits.parallel, slot.inFlight >= parallel {
            // Looked for at most once a second per key: a key kept at its limit by live
            // requests costs a scan of the leases per second, not per refusal.
            if mayReclaim && slot.lastReclaim != second {
                slot.lastReclaim = second
                let held = table.heldLeases(slot: index)
                // A count left too high by a process that died mid-update is repaired here.
                if Int(slot.inFlight) > held.count { slot.inFlight = UInt32(held.count) }
                if slot.inFlight < parallel {
                    return decide(digest, limits: limits, holder: holder, at: second, mayReclaim: false)
                }
                let others = held.filter { $0.holder != self.holder }
                if !others.isEmpty { return .reclaim(others) }
            }
            return .answer(.refused(.parallel, retryAfter: 1))
        }
        var lease: KeyLease?
        if limits.parallel != nil {
            lease = table.issueLease(slot: index, holder: holder)
            if lease == nil { countFailure(.tableFullCount) }
        }
        slot.countRequest(at: second)
        return .answer(
            .admitted(
                lease: lease, remainingRequests: limits.rpm.map { max(0, $0 - window.count - 1) },
                remainingTokens: remainingTokens))
    }

    // MARK: helpers

    enum Counter {
        case tableFullCount, lockFailureCount

        var offset: Int {
            switch self {
            case .tableFullCount: KeyLimitsLayout.Header.tableFullCount
            case .lockFailureCount: KeyLimitsLayout.Header.lockFailureCount
            }
        }
    }

    func countFailure(_ counter: Counter) {
        header.counter(counter.offset).pointee.wrappingAdd(1, ordering: .relaxed)
    }

    private func counter(_ counter: Counter) -> Int {
        Int(clamping: header.counter(counter.offset).pointee.load(ordering: .relaxed))
    }

    private func failOpen(_ counter: Counter) -> KeyAdmission {
        countFailure(counter)
        return .admitted(lease: nil, remainingRequests: nil)
    }

    /// The start of `budget`'s window holding `second`, as the slot stores it.
    static func windowStart(of budget: KeyBudget, at second: UInt32) -> UInt32 {
        UInt32(clamping: budget.windowStart(at: Int(second)))
    }

    /// Whole seconds of the clock, as the window's buckets hold them.
    private func currentSecond() -> UInt32 {
        let time = now()
        guard time.isFinite else { return 0 }
        return UInt32(min(max(time, 0), Double(UInt32.max)).rounded(.down))
    }

    /// Runs `body` with the mutex held and the clock's second, read once the mutex is
    /// held; `nil` (and a counted failure) when it cannot be had. Read before, a holder
    /// that waited across a second's turn would look at the window from the second
    /// before one whose requests the previous holder had just counted, and a bucket
    /// from the future is not counted: 30 requests at once on `rpm_limit: 10` were seen
    /// to admit 11. Read under the mutex, each holder's second is no earlier than the
    /// last one's.
    func withMutex<Result>(_ body: (KeyLimitTable, UInt32) -> Result) -> Result? {
        guard mutex.lock() else {
            countFailure(.lockFailureCount)
            return nil
        }
        defer { mutex.unlock() }
        return body(table, currentSecond())
    }
}
