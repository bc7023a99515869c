import GatewayCore

/// The parallel slots this process holds in Redis: what `release` removes, and what the
/// keeper refreshes so a long request keeps its slot while a dead process's slots expire.
///
/// A Redis lease is handed out as a `KeyLease` with a negative index (the host table's
/// are never negative); index and generation together carry the lease's number here.
final class RedisLeaseBook: Sendable {
    struct Held: Sendable, Equatable {
        let digest: KeyDigest
        /// The lease's member in the key's sorted set: unique to this process and lease.
        let member: String
        /// The process's count of admits when this one was made (`RedisLimiter.release`).
        var admitted: UInt64 = 0
    }

    /// Unique per process start, so two processes never share a member.
    private let processTag: String
    private let state = Locked<(next: UInt64, held: [UInt64: Held])>((0, [:]))

    init(processTag: String = String(UInt64.random(in: 0...UInt64.max), radix: 16)) {
        self.processTag = processTag
    }

    /// A new lease number and the member naming it in Redis; `record` makes it held.
    func reserve(_ digest: KeyDigest) -> (lease: KeyLease, held: Held) {
        let number = state.withLock { state in
            defer { state.next &+= 1 }
            return state.next
        }
        let lease = KeyLease(
            index: -1 - Int32(truncatingIfNeeded: number & 0x7fff_ffff), generation: UInt32(truncatingIfNeeded: number >> 31))
        return (lease, Held(digest: digest, member: "\(processTag):\(number)"))
    }

    func record(_ lease: KeyLease, _ held: Held) {
        guard let number = Self.number(of: lease) else { return }
        state.withLock { $0.held[number] = held }
    }

    /// Forgets `lease`, returning what it held (`nil`: not one of these, or gone already).
    func remove(_ lease: KeyLease) -> Held? {
        guard let number = Self.number(of: lease) else { return nil }
        return state.withLock { $0.held.removeValue(forKey: number) }
    }

    /// Whether no lease is held (no request with a Redis slot is running here).
    var isEmpty: Bool { state.withLock { $0.held.isEmpty } }

    /// Every held lease's member, by key.
    func byKey() -> [KeyDigest: [String]] {
        let held = state.withLock { Array($0.held.values) }
        return Dictionary(grouping: held, by: \.digest).mapValues { $0.map(\.member) }
    }

    static func isRedisLease(_ lease: KeyLease) -> Bool { lease.index < 0 }

    private static func number(of lease: KeyLease) -> UInt64? {
        guard lease.index < 0 else { return nil }
        return UInt64(-1 - Int64(lease.index)) | UInt64(lease.generation) << 31
    }
}
