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
        var count = 0
        var oldestAge: Int?
        for bucket in 0..<KeyLimitsLayout.windowSeconds {
            let requests = self.count(bucket)
            guard requests > 0, let age = age(of: bucket, at: second) else { continue }
            count += Int(requests)
            oldestAge = max(oldestAge ?? 0, age)
        }
        return (count, oldestAge)
    }

    /// Counts one request in `second`'s bucket, first resetting the bucket if it still
    /// holds an earlier minute's count.
    func countRequest(at second: UInt32) {
        let bucket = Int(second % UInt32(KeyLimitsLayout.windowSeconds))
        if self.second(bucket) != second {
            base.storeBytes(of: second, toByteOffset: Layout.seconds + bucket * 4, as: UInt32.self)
            base.storeBytes(of: 0, toByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
        }
        base.storeBytes(of: count(bucket) &+ 1, toByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
    }

    /// Nothing in flight and nothing in the window: the slot may be given to another key.
    func isIdle(at second: UInt32) -> Bool {
        inFlight == 0 && window(at: second).count == 0
    }

    private func second(_ bucket: Int) -> UInt32 {
        base.load(fromByteOffset: Layout.seconds + bucket * 4, as: UInt32.self)
    }

    private func count(_ bucket: Int) -> UInt32 {
        base.load(fromByteOffset: Layout.counts + bucket * 4, as: UInt32.self)
    }

    /// Seconds between the bucket's second and `second`, if it lies in the window. A
    /// bucket from the future (the clock went back) is not counted.
    private func age(of bucket: Int, at second: UInt32) -> Int? {
        let bucketSecond = self.second(bucket)
        guard bucketSecond <= second else { return nil }
        let age = Int(second - bucketSecond)
        return age < KeyLimitsLayout.windowSeconds ? age : nil
    }
}
