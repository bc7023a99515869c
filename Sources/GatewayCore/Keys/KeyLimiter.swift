/// A key's request limits (`rpm_limit`, `max_parallel_requests`); `nil`: no limit.
public struct KeyLimits: Sendable, Equatable {
    public var rpm: Int?
    public var parallel: Int?

    public init(rpm: Int? = nil, parallel: Int? = nil) {
        self.rpm = rpm
        self.parallel = parallel
    }

    public var isEmpty: Bool { rpm == nil && parallel == nil }

    /// The most keys one config may declare: half the shared table's slots
    /// (`SharedKeyLimits.maxKeys`), so a reload that replaces every key still finds free
    /// slots while the old keys' windows run out.
    public static let maxKeysPerConfig = 16_384
}

/// Which limit refused a request.
public enum KeyLimitRule: String, Sendable, Equatable {
    case rpm = "rpm_limit"
    case parallel = "max_parallel_requests"
}

/// The answer of a `KeyLimiter` for one request.
public enum KeyAdmission: Sendable, Equatable {
    /// The request may go on. `lease` must be given back through `release` when the
    /// request ends, whichever way it ends; `remainingRequests` is what is left of the
    /// rpm window after this request (`nil` without an rpm limit).
    case admitted(lease: KeyLease?, remainingRequests: Int?)
    /// Refused by `rule`; `retryAfter` whole seconds until a try can succeed (≥ 1).
    case refused(KeyLimitRule, retryAfter: Int)
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
/// one table, so a key's limits do not multiply by the number of processes.
public protocol KeyLimiter: Sendable {
    /// Counts one request of the key against `limits` (an rpm window entry and a parallel
    /// slot) or refuses it without counting it.
    func admit(_ digest: KeyDigest, limits: KeyLimits) -> KeyAdmission
    /// Gives a parallel slot back. Safe to call once per lease; a lease already reclaimed
    /// (its process was thought dead) is ignored.
    func release(_ lease: KeyLease)
}
