import GatewayCore

/// The table's data structures on the mapped memory: key slots found by open addressing
/// and the lease array with its free list. Every method runs with the table's mutex held;
/// `SharedKeyLimits` decides what to do with them.
///
/// Slots are never emptied, so probe chains never break: a slot whose key has nothing in
/// flight and nothing in its window is idle, and the next new key whose chain passes it
/// takes it over. `longestProbe` is the farthest any key was ever placed from its home
/// slot, so looking a key up stops there instead of walking a table full of idle slots.
/// Leases are numbered by their place in the array; the values checked at every step are
/// bounded, since a process killed mid-update may have left any of them half written.
struct KeyLimitTable {
    typealias Layout = KeyLimitsLayout
    let base: UnsafeMutableRawPointer

    func slot(_ index: Int) -> KeySlot {
        KeySlot(base: base + Layout.slotsOffset + index * Layout.Slot.size)
    }

    func lease(_ index: Int) -> LeaseEntry {
        LeaseEntry(base: base + Layout.leasesOffset + index * Layout.Lease.size)
    }

    // MARK: key slots

    /// The slot of `digest`, if it has one.
    func find(_ digest: KeyDigest) -> Int? {
        let home = Self.home(of: digest)
        for distance in 0...min(longestProbe, Layout.slotCount - 1) {
            let index = (home + distance) % Layout.slotCount
            let candidate = slot(index)
            guard candidate.used else { return nil }
            if candidate.digest == digest { return index }
        }
        return nil
    }

    /// The slot of `digest`, claiming a free or idle one if it has none; `nil` when every
    /// slot holds a key counting requests in `second`'s window.
    func findOrClaim(_ digest: KeyDigest, at second: UInt32) -> Int? {
        let home = Self.home(of: digest)
        var reusable: Int?
        var distance = 0
        let searched = min(longestProbe, Layout.slotCount - 1)
        while distance <= searched {
            let index = (home + distance) % Layout.slotCount
            let candidate = slot(index)
            if !candidate.used {
                reusable = reusable ?? distance
                break
            }
            if candidate.digest == digest { return index }
            if reusable == nil && candidate.isIdle(at: second) { reusable = distance }
            distance += 1
        }
        if reusable == nil {
            // No key can lie beyond `longestProbe`: only a free place is looked for here.
            while distance < Layout.slotCount {
                let candidate = slot((home + distance) % Layout.slotCount)
                if !candidate.used || candidate.isIdle(at: second) {
                    reusable = distance
                    break
                }
                distance += 1
            }
        }
        guard let reusable else { return nil }
        longestProbe = max(longestProbe, reusable)
        let index = (home + reusable) % Layout.slotCount
        slot(index).claim(for: digest)
        return index
    }

    /// Digests are uniformly distributed: the low bits of one word spread keys evenly.
    private static func home(of digest: KeyDigest) -> Int {
        Int(truncatingIfNeeded: digest.words.0 & UInt64(Layout.slotCount - 1))
    }

    // MARK: leases

    /// A lease on a parallel slot of `slotIndex` for `holder`, counted in the slot's
    /// requests in flight; `nil` when every lease entry is held.
    func issueLease(slot slotIndex: Int, holder: LeaseHolder) -> KeyLease? {
        var index: Int
        let head = Int(leaseFreeHead)
        if head >= 0 && head < leaseHighWater && !lease(head).held {
            index = head
            leaseFreeHead = lease(head).nextFree
        } else if leaseHighWater < Layout.leaseCount {
            leaseFreeHead = -1  // empty, or left broken by a process that died mid-update
            index = leaseHighWater
            leaseHighWater += 1
        } else {
            leaseFreeHead = -1
            return nil
        }
        let entry = lease(index)
        entry.held = true
        entry.slot = Int32(slotIndex)
        entry.holder = holder
        let key = slot(slotIndex)
        key.inFlight = key.inFlight &+ 1
        return KeyLease(index: Int32(index), generation: entry.generation)
    }

    /// The held entry `lease` names, if it is still that lease.
    func heldEntry(_ lease: KeyLease) -> Int? {
        let index = Int(lease.index)
        guard index >= 0 && index < leaseHighWater else { return nil }
        let entry = self.lease(index)
        return entry.held && entry.generation == lease.generation ? index : nil
    }

    /// Frees a held entry and gives its parallel slot back to its key.
    func free(lease index: Int) {
        let entry = lease(index)
        entry.held = false
        entry.generation = entry.generation &+ 1
        let slotIndex = Int(entry.slot)
        if slotIndex >= 0 && slotIndex < Layout.slotCount {
            let key = slot(slotIndex)
            if key.inFlight > 0 { key.inFlight -= 1 }
        }
        entry.nextFree = leaseFreeHead
        leaseFreeHead = Int32(index)
    }

    /// The held leases, of one slot or of all, with who holds them.
    func heldLeases(slot slotIndex: Int? = nil) -> [(lease: KeyLease, holder: LeaseHolder)] {
        var held: [(lease: KeyLease, holder: LeaseHolder)] = []
        for index in 0..<leaseHighWater {
            let entry = lease(index)
            guard entry.held, slotIndex.map({ Int(entry.slot) == $0 }) ?? true else { continue }
            held.append((KeyLease(index: Int32(index), generation: entry.generation), entry.holder))
        }
        return held
    }

    // MARK: header fields kept under the mutex

    var longestProbe: Int {
        get { Int(base.load(fromByteOffset: Layout.Header.longestProbe, as: UInt32.self)) }
        nonmutating set {
            base.storeBytes(of: UInt32(newValue), toByteOffset: Layout.Header.longestProbe, as: UInt32.self)
        }
    }

    var leaseHighWater: Int {
        get { min(Int(base.load(fromByteOffset: Layout.Header.leaseHighWater, as: UInt32.self)), Layout.leaseCount) }
        nonmutating set {
            base.storeBytes(of: UInt32(newValue), toByteOffset: Layout.Header.leaseHighWater, as: UInt32.self)
        }
    }

    var leaseFreeHead: Int32 {
        get { base.load(fromByteOffset: Layout.Header.leaseFreeHead, as: Int32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.Header.leaseFreeHead, as: Int32.self) }
    }

    /// The second a process last took the refresh of other hosts' spend.
    var budgetRefreshSecond: UInt32 {
        get { base.load(fromByteOffset: Layout.Header.budgetRefreshSecond, as: UInt32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.Header.budgetRefreshSecond, as: UInt32.self) }
    }
}
