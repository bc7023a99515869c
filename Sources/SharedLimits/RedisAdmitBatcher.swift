import Dispatch
import Foundation

/// Sends the admits of a process's threads to Redis together: while one batch is on its
/// way, the admits that arrive wait, and the next of them sends them all in one write
/// and reads their answers in order (a group commit). Redis then wakes once per batch,
/// not once per request, which on a busy host is most of what an admit costs it; a lone
/// admit goes at once, as before.
final class RedisAdmitBatcher: @unchecked Sendable {
    /// One admit waiting for its answer.
    final class Ticket {
        let keys: [String]
        let arguments: [String]
        /// Other keys' given-back slots, sent ahead of the batch's scripts.
        let releases: [RedisLeaseBook.Held]
        /// The script's reply; `nil` when Redis gave none.
        var reply: RedisReply?
        /// Set by the batch that answered it; a ticket woken without it leads the next.
        var answered = false
        fileprivate let wake = DispatchSemaphore(value: 0)

        init(keys: [String], arguments: [String], releases: [RedisLeaseBook.Held]) {
            self.keys = keys
            self.arguments = arguments
            self.releases = releases
        }
    }

    /// The most admits in one write.
    static let maxBatch = 64

    private let lock = NSLock()
    private var queue: [Ticket] = []
    private var sending = false

    /// Returns once `ticket` is answered: by a batch another thread sent, or by one this
    /// thread sends with `send`, which must answer every ticket it is given.
    func submit(_ ticket: Ticket, send: ([Ticket]) -> Void) {
        lock.lock()
        queue.append(ticket)
        if sending {
            lock.unlock()
            ticket.wake.wait()
            // The lock, not the semaphore, orders the sender's writes before these reads
            // (as ThreadSanitizer sees it too).
            lock.lock()
            let answered = ticket.answered
            lock.unlock()
            if answered { return }
            // Woken unanswered: this thread sends the next batch (`sending` was kept for it).
        } else {
            sending = true
            lock.unlock()
        }
        lock.lock()
        let batch = Array(queue.prefix(Self.maxBatch))
        queue.removeFirst(batch.count)
        lock.unlock()
        send(batch)
        lock.lock()
        for waiting in batch { waiting.answered = true }
        let next = queue.first  // it stays queued and takes its batch itself
        if next == nil { sending = false }
        lock.unlock()
        for waiting in batch where waiting !== ticket { waiting.wake.signal() }
        next?.wake.signal()
    }
}
