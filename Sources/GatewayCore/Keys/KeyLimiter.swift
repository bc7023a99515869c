/// A key's limits (`rpm_limit`, `max_parallel_requests`, `tpm_limit`, `max_budget` with
/// `budget_duration`); `nil`: no limit.
public struct KeyLimits: Sendable, Equatable {
    public var rpm: Int?
    public var parallel: Int?
    /// Input plus output tokens in any 60-second window.
    public var tpm: Int?
    public var budget: KeyBudget?

    public init(rpm: Int? = nil, parallel: Int? = nil, tpm: Int? = nil, budget: KeyBudget? = nil) {
        self.rpm = rpm
        self.parallel = parallel
        self.tpm = tpm
        self.budget = budget
    }

    public var isEmpty: Bool { rpm == nil && parallel == nil && tpm == nil && budget == nil }

    /// Whether finished requests must be charged to the table (`KeyLimiter.charge`).
    public var isCharged: Bool { tpm != nil || budget != nil }

    /// The most keys one config may declare: half the shared table's slots
    /// (`SharedKeyLimits.maxKeys`), so a reload that replaces every key still finds free
    /// slots while the old keys' windows run out.
    public static let maxKeysPerConfig = 16_384
}

/// `max_budget` and `budget_duration`: what a key may spend (USD) in a window.
public struct KeyBudget: Sendable, Equatable {
    public var maxBudget: Double
    /// The window's length in seconds; `nil`: all time.
    public var duration: Int?

    public init(maxBudget: Double, duration: Int? = nil) {
        self.maxBudget = maxBudget
        self.duration = duration
    }

    /// The start (Unix seconds) of the window holding `second`: windows are aligned on
    /// the Unix epoch, in UTC (`1d` starts at midnight UTC, `1h` on the hour); 0 for all
    /// time.
    public func windowStart(at second: Int) -> Int {
        guard let duration, duration > 0 else { return 0 }
        return max(0, second) / duration * duration
    }

    /// Seconds from `second` to the end of its window; `nil` for all time.
    public func secondsToWindowEnd(at second: Int) -> Int? {
        guard let duration, duration > 0 else { return nil }
        return windowStart(at: second) + duration - max(0, second)
    }
}

/// Which limit refused a request.
public enum KeyLimitRule: String, Sendable, Equatable {
    case rpm = "rpm_limit"
    case parallel = "max_parallel_requests"
    case tpm = "tpm_limit"
    case budget = "max_budget"
}

/// The answer of a `KeyLimiter` for one request.
public enum KeyAdmission: Sendable, Equatable {
    /// The request may go on. `lease` must be given back through `release` when the
    /// request ends, whichever way it ends; `remainingRequests` is what is left of the
    /// rpm window after this request (`nil` without an rpm limit); `remainingTokens` what
    /// is left of the tpm window before it (`nil` without a tpm limit).
    case admitted(lease: KeyLease?, remainingRequests: Int?, remainingTokens: Int? = nil)
    /// Refused by `rule`; `retryAfter` whole seconds until a try can succeed (≥ 1; for a
    /// budget with no `budget_duration`, 0: it never comes back by itself). `spend` is the
    /// key's spend in the budget window when the budget refused.
    case refused(KeyLimitRule, retryAfter: Int, spend: Double? = nil)
    /// Not decided: the store the limits are shared in cannot be reached and the gateway
    /// is set to refuse rather than count host-wide (`shared_state_failure: closed`).
    case unavailable(retryAfter: Int)
}

/// A held parallel slot.
public struct KeyLease: Sendable, Equatable {
    /// Opaque to everyone but the limiter that issued it.
    public var index: Int32
    public var generation: UInt32

    public init(index: Int32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }
}

/// Counts keys' requests host-wide: every worker of every instance on the host shares
/// one table, so a key's limits do not multiply by the number of processes; with Redis
/// configured, across every host (docs/SHARED_STATE.md).
public protocol KeyLimiter: Sendable {
    /// Counts one request of the key against `limits` (an rpm window entry and a parallel
    /// slot) or refuses it without counting it.
    func admit(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission
    /// Gives a parallel slot back. Safe to call once per lease; a lease already reclaimed
    /// (its process was thought dead) is ignored.
    func release(_ lease: KeyLease)
    /// Counts a finished request of the key: `tokens` (input + output) in the tpm window
    /// and `cost` (USD) in the budget window. Called only for limits that `isCharged`.
    func charge(_ digest: KeyDigest, limits: KeyLimits, tokens: Int, cost: Double)
    /// The start (Unix seconds) of the key's budget window when the table does not know
    /// the key's spend in it yet (a fresh table after a reboot, a key new to it), so the
    /// caller should `seed` it from the ledger; `nil` when it knows, or there is no budget.
    func unseededBudgetWindow(_ digest: KeyDigest, limits: KeyLimits) -> Int?
    /// Sets the key's spend in the budget window starting at `windowStart`, unless the
    /// table learned it meanwhile (another process seeded it, or the window moved on).
    func seed(_ digest: KeyDigest, limits: KeyLimits, windowStart: Int, spend: Double)
}

extension KeyLimiter {
    public func charge(_ digest: KeyDigest, limits: KeyLimits, tokens: Int, cost: Double) {}
    public func unseededBudgetWindow(_ digest: KeyDigest, limits: KeyLimits) -> Int? { nil }
    public func seed(_ digest: KeyDigest, limits: KeyLimits, windowStart: Int, spend: Double) {}
}
