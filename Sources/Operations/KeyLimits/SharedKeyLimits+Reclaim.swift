import GatewayCore

/// Giving back the parallel slots of processes that died holding them.
///
/// A worker killed mid-request (OOM, a crash, SIGKILL) never releases its leases. They
/// are found by their holder: a lease whose process is gone is freed. Whether a process
/// is gone takes system calls (`kill`, reading /proc), so it is decided outside the
/// mutex, and a lease is freed afterwards only if it is still the same lease.
extension SharedKeyLimits {
    /// Frees the leases of every holder that is gone; returns how many.
    @discardableResult
    package func sweepDeadHolders() -> Int {
        guard let held = withMutex({ table, _ in table.heldLeases() }) else { return 0 }
        return reclaim(held.filter { $0.holder != holder })
    }

    /// Frees those of `candidates` whose holder is gone and that were not given back
    /// meanwhile; returns how many.
    @discardableResult
    func reclaim(_ candidates: [(lease: KeyLease, holder: LeaseHolder)]) -> Int {
        var gone: [LeaseHolder: Bool] = [:]
        let dead = candidates.filter { candidate in
            if let known = gone[candidate.holder] { return known }
            let isGone = candidate.holder.isGone
            gone[candidate.holder] = isGone
            return isGone
        }
        guard !dead.isEmpty else { return 0 }
        return withMutex { table, _ in
            var freed = 0
            for candidate in dead {
                guard let index = table.heldEntry(candidate.lease), table.lease(index).holder == candidate.holder else {
                    continue
                }
                table.free(lease: index)
                freed += 1
            }
            return freed
        } ?? 0
    }
}
