import Foundation

/// Parallel slots this process has given back but not yet told Redis about.
///
/// Under load a slot's release rides along with the process's next admit (the admit
/// script removes the key's own slots before counting, other keys' go in the same
/// write), so Redis gets one message per request instead of two; a release that no admit
/// carries is sent by the flusher within `RedisLimiter.releaseDelay`. In a quiet process
/// (no other admit since the request's own) a slot is not queued but sent at once
/// (`RedisLimiter.release`): a lone client's next request finds its slot free.
final class RedisReleaseQueue: @unchecked Sendable {
    /// Beyond this many waiting releases the oldest are dropped: their slots then free
    /// themselves in Redis when their leases expire (`RedisLimiter.leaseTTL`).
    static let capacity = 65_536

    private let condition = NSCondition()
    private var waiting: [RedisLeaseBook.Held] = []

    func add(_ held: RedisLeaseBook.Held) {
        condition.lock()
        if waiting.count >= Self.capacity { waiting.removeFirst(waiting.count - Self.capacity + 1) }
        waiting.append(held)
        if waiting.count == 1 { condition.signal() }
        condition.unlock()
    }

    /// Puts back releases a failed send did not deliver, ahead of newer ones.
    func putBack(_ held: [RedisLeaseBook.Held]) {
        guard !held.isEmpty else { return }
        condition.lock()
        waiting.insert(contentsOf: held, at: 0)
        if waiting.count > Self.capacity { waiting.removeFirst(waiting.count - Self.capacity) }
        condition.signal()
        condition.unlock()
    }

    /// Everything waiting, now the caller's to send.
    func takeAll() -> [RedisLeaseBook.Held] {
        condition.lock()
        defer { condition.unlock() }
        guard !waiting.isEmpty else { return [] }
        let taken = waiting
        waiting.removeAll(keepingCapacity: true)
        return taken
    }

    /// Blocks until a release is waiting (the flusher's sleep).
    func waitForReleases() {
        condition.lock()
        while waiting.isEmpty { condition.wait() }
        condition.unlock()
    }
}
