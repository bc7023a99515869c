import GatewayCore

/// One key's entry in the mapped table; read and written with the table's mutex held.
struct KeySlot {
    typealias Layout = KeyLimitsLayout.Slot
    let base: UnsafeMutableRawPointer

    var used: Bool { base.load(fromByteOffset: Layout.used, as: UInt32.self) != 0 }

    var digest: KeyDigest {
        KeyDigest(
            words: (
                base.load(fromByteOffset: Layout.digest, as: UInt64.self),
                base.load(fromByteOffset: Layout.digest + 8, as: UInt64.self),
                base.load(fromByteOffset: Layout.digest + 16, as: UInt64.self),
                base.load(fromByteOffset: Layout.digest + 24, as: UInt64.self)
            ))
    }

    var inFlight: UInt32 {
        get { base.load(fromByteOffset: Layout.inFlight, as: UInt32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.inFlight, as: UInt32.self) }
    }

    var lastReclaim: UInt32 {
        get { base.load(fromByteOffset: Layout.lastReclaim, as: UInt32.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: Layout.lastReclaim, as: UInt32.self) }
    }

    /// Makes the slot `digest`'s, with an empty window and nothing in flight.
    func claim(for digest: KeyDigest) {
        base.initializeMemory(as: UInt8.self, repeating: 0, count: Layout.size)
        let words = [digest.words.0, digest.words.1, digest.words.2, digest.words.3]
        for (index, word) in words.enumerated() {
            base.storeBytes(of: word, toByteOffset: Layout.digest + index * 8, as: UInt64.self)
        }
        base.storeBytes(of: 1, toByteOffset: Layout.used, as: UInt32.self)
    }

    /// The requests counted in the 60 seconds up to and including `second`, and the age
    /// in seconds of the oldest of their buckets (`nil` when none counts).
    func window(at second: UInt32) -> (count: Int, oldestAge: Int?) {
        let summed = sum(Layout.counts, at: second)
        return (summed.total, summed.oldestAge)
    }

    /// The tokens charged in the 60 seconds up to and including `second`, and the age in
    /// seconds of the oldest bucket holding some (`nil` when none does).
    func tokenWindow(at second: UInt32) -> (tokens: Int, oldestAge: Int?) {
        let summed = sum(Layout.tokens, at: second)
        return (summed.total, summed.oldestAge)
    }

    /// The buckets' values at `offset` (counts or tokens) within the window.
    private func sum(_ offset: Int, at second: UInt32) -> (total: Int, oldestAge: Int?) {
        var total = 0
        var oldestAge: Int?
        for bucket in 0..<KeyLimitsLayout.windowSeconds {
            let value = base.load(fromByteOffset: offset + bucket * 4, as: UInt32.self)
            guard value > 0, let age = age(of: bucket, at: second) else { continue }
            total += Int(value)
            oldestAge = max(oldestAge ?? 0, age)
        }
        return (total, oldestAge)
    }

    /// Counts one request in `second`'s bucket.
    func countRequest(at second: UInt32) {
        let bucket = currentBucket(at: second)
        base.storeBytes(of: count(bucket) &+ 1, toByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
    }

    /// Adds `tokens` to `second`'s bucket, saturating rather than wrapping.
    func countTokens(_ tokens: Int, at second: UInt32) {
        guard tokens > 0 else { return }
        let bucket = currentBucket(at: second)
        let sum = UInt32(clamping: Int(self.tokens(bucket)) + min(tokens, Int(UInt32.max)))
        base.storeBytes(of: sum, toByteOffset: Layout.tokens + bucket * 4, as: UInt32.self)
    }

    /// `second`'s bucket, first emptied if it still holds an earlier minute's counts.
    private func currentBucket(at second: UInt32) -> Int {
        let bucket = Int(second % UInt32(KeyLimitsLayout.windowSeconds))
        if self.second(bucket) != second {
            base.storeBytes(of: second, toByteOffset: Layout.seconds + bucket * 4, as: UInt32.self)
            base.storeBytes(of: 0, toByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
            base.storeBytes(of: 0, toByteOffset: Layout.tokens + bucket * 4, as: UInt32.self)
        }
        return bucket
    }

    /// Nothing in flight and nothing in the windows: the slot may be given to another key.
    /// A budget's spend does not keep a slot: a key that comes back is seeded again from
    /// the ledger.
    func isIdle(at second: UInt32) -> Bool {
        inFlight == 0 && window(at: second).count == 0 && tokenWindow(at: second).tokens == 0
    }

    // MARK: budget

    /// The key's spend in the budget window starting at `windowStart`, and whether it is
    /// known. A window that moved on starts at 0, known if the last one was (every charge
    /// since reached the table); a value left unreadable by a process killed mid-write
    /// counts as unknown.
    func budget(windowStart: UInt32) -> (spend: Double, seeded: Bool) {
        var seeded = base.load(fromByteOffset: Layout.budgetSeeded, as: UInt32.self) == 1
        if base.load(fromByteOffset: Layout.budgetWindowStart, as: UInt32.self) != windowStart {
            base.storeBytes(of: windowStart, toByteOffset: Layout.budgetWindowStart, as: UInt32.self)
            base.storeBytes(of: 0.0, toByteOffset: Layout.spend, as: Double.self)
        }
        let spend = base.load(fromByteOffset: Layout.spend, as: Double.self)
        guard spend.isFinite && spend >= 0 else {
            base.storeBytes(of: 0.0, toByteOffset: Layout.spend, as: Double.self)
            seeded = false
            base.storeBytes(of: 0, toByteOffset: Layout.budgetSeeded, as: UInt32.self)
            return (0, false)
        }
        return (spend, seeded)
    }

    /// What other hosts spent in the window starting at `windowStart`, as the shared
    /// ledger last said; 0 when it said nothing for that window.
    func otherHostsSpend(windowStart: UInt32) -> Double {
        guard base.load(fromByteOffset: Layout.otherHostsWindow, as: UInt32.self) == windowStart else { return 0 }
        let spend = base.load(fromByteOffset: Layout.otherHostsSpend, as: Double.self)
        return spend.isFinite && spend > 0 ? spend : 0
    }

    func setOtherHostsSpend(_ spend: Double, windowStart: UInt32) {
        base.storeBytes(of: windowStart, toByteOffset: Layout.otherHostsWindow, as: UInt32.self)
        base.storeBytes(of: spend.isFinite && spend > 0 ? spend : 0, toByteOffset: Layout.otherHostsSpend, as: Double.self)
    }

    /// Adds `cost` to the window's spend (`budget(windowStart:)` first).
    func addSpend(_ cost: Double, windowStart: UInt32) {
        let spend = budget(windowStart: windowStart).spend
        base.storeBytes(of: spend + cost, toByteOffset: Layout.spend, as: Double.self)
    }

    /// Takes the ledger's spend for the window, once. What the table counted before (a
    /// request charged while the key was unknown to it) may or may not be in the ledger
    /// yet: the larger of the two is kept, which never counts a request twice.
    func seed(_ spend: Double, windowStart: UInt32) {
        let known = budget(windowStart: windowStart)
        guard !known.seeded else { return }
        let ledger = spend.isFinite && spend > 0 ? spend : 0
        base.storeBytes(of: max(known.spend, ledger), toByteOffset: Layout.spend, as: Double.self)
        base.storeBytes(of: 1, toByteOffset: Layout.budgetSeeded, as: UInt32.self)
    }

    private func second(_ bucket: Int) -> UInt32 {
        base.load(fromByteOffset: Layout.seconds + bucket * 4, as: UInt32.self)
    }

    private func count(_ bucket: Int) -> UInt32 {
        base.load(fromByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
    }

    /// Seconds between the bucket's second and `second`, if it lies in the window. A
    /// bucket from the future (the clock went back) is not counted.
    private func tokens(_ bucket: Int) -> UInt32 {
        base.load(fromByteOffset: Layout.tokens + bucket * 4, as: UInt32.self)
    }

    private func age(of bucket: Int, at second: UInt32) -> Int? {
        let bucketSecond = self.second(bucket)
        guard bucketSecond <= second else { return nil }
        let age = Int(second - bucketSecond)
        return age < KeyLimitsLayout.windowSeconds ? age : nil
    }
}
