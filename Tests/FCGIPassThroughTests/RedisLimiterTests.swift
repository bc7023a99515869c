import Foundation
import Testing

@testable import GatewayCore
@testable import Operations
@testable import SharedLimits

/// The Redis limiter's pieces that need no server: the admit script's replies, lease
/// numbering, and what requests get while the server cannot be reached. With a server,
/// Tests/IntegrationTests/test_shared_limits.py.
@Suite struct RedisLimiterTests {
    static let digest = KeyDigest(words: (1, 2, 3, 4))

    @Test func admitRepliesBecomeAdmissions() {
        let lease = KeyLease(index: -1, generation: 0)
        #expect(
            RedisAdmitReply.admission(from: .array([.integer(0), .integer(4), .integer(-1)]), lease: lease)
                == .admitted(lease: lease, remainingRequests: 4, remainingTokens: nil))
        #expect(
            RedisAdmitReply.admission(from: .array([.integer(0), .integer(-1), .integer(250)]), lease: nil)
                == .admitted(lease: nil, remainingRequests: nil, remainingTokens: 250))
        #expect(RedisAdmitReply.admission(from: .array([.integer(1), .integer(42)]), lease: nil) == .refused(.rpm, retryAfter: 42))
        #expect(RedisAdmitReply.admission(from: .array([.integer(2), .integer(1)]), lease: nil) == .refused(.parallel, retryAfter: 1))
        #expect(RedisAdmitReply.admission(from: .array([.integer(3), .string("7")]), lease: nil) == .refused(.tpm, retryAfter: 7))
        // Retry-After stays within the window whatever the server says.
        #expect(RedisAdmitReply.admission(from: .array([.integer(1), .integer(0)]), lease: nil) == .refused(.rpm, retryAfter: 1))
        #expect(RedisAdmitReply.admission(from: .array([.integer(1), .integer(900)]), lease: nil) == .refused(.rpm, retryAfter: 60))
    }

    @Test func repliesNoScriptGivesAreRejected() {
        let broken: [RedisReply] = [
            .error("NOSCRIPT No matching script"), .null, .integer(0), .status("OK"), .array([]),
            .array([.integer(0), .integer(1)]), .array([.integer(9), .integer(1)]), .array([.string("x"), .integer(1)]),
            .array([.integer(1)]), .array([.integer(0), .null, .integer(1)]),
        ]
        for reply in broken { #expect(RedisAdmitReply.admission(from: reply, lease: nil) == nil, "\(reply)") }
    }

    @Test func redisLeasesAreNegativeAndFoundAgain() {
        let book = RedisLeaseBook(processTag: "t")
        var members = Set<String>()
        for _ in 0..<3 {
            let (lease, held) = book.reserve(Self.digest)
            #expect(RedisLeaseBook.isRedisLease(lease))
            #expect(held.member.hasPrefix("t:"))
            members.insert(held.member)
            book.record(lease, held)
            #expect(book.byKey()[Self.digest]?.contains(held.member) == true)
            #expect(book.remove(lease) == held)
            #expect(book.remove(lease) == nil)
        }
        #expect(members.count == 3)
        #expect(book.remove(KeyLease(index: 5, generation: 0)) == nil)
        #expect(book.byKey().isEmpty)
    }

    /// A port nothing listens on: the limiter starts down and falls back at once.
    static func unreachable(_ failure: SharedStateSettings.Failure) -> (RedisLimiter, SharedKeyLimits) {
        let host = SharedKeyLimits.anonymous()
        let limiter = RedisLimiter(
            address: RedisAddress(host: "127.0.0.1", port: 1, password: "secret"), failure: failure, host: host,
            logger: Logger(level: .error), metrics: nil)
        return (limiter, host)
    }

    @Test func downAndOpenCountsHostWide() {
        let (limiter, host) = Self.unreachable(.open)
        #expect(!limiter.isUp)
        let limits = KeyLimits(rpm: 2, parallel: 1)
        guard case .admitted(let lease?, let remaining, _) = limiter.admit(Self.digest, limits: limits) else {
            Issue.record("not admitted")
            return
        }
        #expect(!RedisLeaseBook.isRedisLease(lease))
        #expect(remaining == 1)
        #expect(host.usage(Self.digest) == (1, 1))
        #expect(limiter.admit(Self.digest, limits: limits) == .refused(.parallel, retryAfter: 1))
        limiter.release(lease)
        #expect(host.usage(Self.digest).inFlight == 0)
    }

    @Test func downAndClosedRefusesOnlyCountedLimits() {
        let (limiter, host) = Self.unreachable(.closed)
        #expect(limiter.admit(Self.digest, limits: KeyLimits(rpm: 5)) == .unavailable(retryAfter: 1))
        #expect(limiter.admit(Self.digest, limits: KeyLimits(tpm: 5)) == .unavailable(retryAfter: 1))
        #expect(host.usage(Self.digest) == (0, 0))
        // A budget alone is the host table's, Redis or not; no limit at all is never refused.
        let budget = KeyLimits(budget: KeyBudget(maxBudget: 1))
        #expect(limiter.admit(Self.digest, limits: budget) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limiter.admit(Self.digest, limits: KeyLimits()) == .admitted(lease: nil, remainingRequests: nil))
    }

    @Test func budgetsAreCheckedInTheHostTableFirst() {
        let (limiter, host) = Self.unreachable(.closed)
        let limits = KeyLimits(rpm: 5, budget: KeyBudget(maxBudget: 1))
        limiter.seed(Self.digest, limits: limits, windowStart: 0, spend: 0)
        limiter.charge(Self.digest, limits: limits, tokens: 0, cost: 2)
        #expect(host.budgetSpend(Self.digest, budget: KeyBudget(maxBudget: 1)).spend == 2)
        #expect(limiter.admit(Self.digest, limits: limits) == .refused(.budget, retryAfter: 0, spend: 2))
    }

    @Test func commandsAreWrittenInRedisWireFormat() {
        #expect(RedisConnection.encode(["ZREM", "k", "é"]) == Array("*3\r\n$4\r\nZREM\r\n$1\r\nk\r\n$2\r\né\r\n".utf8))
        #expect(RedisConnection.encode(["PING", ""]) == Array("*2\r\n$4\r\nPING\r\n$0\r\n\r\n".utf8))
    }

    @Test func waitingReleasesAreBoundedAndPutBackFirst() {
        let queue = RedisReleaseQueue()
        let held = { (n: Int) in RedisLeaseBook.Held(digest: Self.digest, member: "m\(n)") }
        for n in 0..<(RedisReleaseQueue.capacity + 2) { queue.add(held(n)) }
        let all = queue.takeAll()
        #expect(all.count == RedisReleaseQueue.capacity)
        #expect(all.first == held(2))  // the oldest went first
        #expect(queue.takeAll().isEmpty)
        queue.add(held(-1))
        queue.putBack([held(-3), held(-2)])
        #expect(queue.takeAll() == [held(-3), held(-2), held(-1)])
    }

    @Test func admitsArrivingTogetherGoInOneBatchAndEachGetsItsOwnAnswer() {
        let batcher = RedisAdmitBatcher()
        let sizes = Locked<[Int]>([])
        let answers = Locked<[Int: RedisReply?]>([:])
        let threads = 24
        // Threads of their own: `concurrentPerform` runs no more at once than there are
        // cores, and on a busy two-core machine one after another.
        let done = DispatchGroup()
        for n in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                for round in 0..<20 {
                    let ticket = RedisAdmitBatcher.Ticket(keys: ["k\(n)"], arguments: [String(round)], releases: [])
                    batcher.submit(ticket) { batch in
                        sizes.withLock { $0.append(batch.count) }
                        Thread.sleep(forTimeInterval: 0.001)  // the round trip, while others queue
                        for waiting in batch { waiting.reply = .string(waiting.keys[0] + ":" + waiting.arguments[0]) }
                    }
                    answers.withLock { $0[n * 100 + round] = ticket.reply }
                }
            }.start()
        }
        done.wait()
        let all = answers.withLock { $0 }
        #expect(all.count == threads * 20)
        for (id, reply) in all { #expect(reply == .string("k\(id / 100):\(id % 100)")) }
        let batches = sizes.withLock { $0 }
        #expect(batches.reduce(0, +) == threads * 20)
        #expect(batches.max() ?? 0 > 1, "no admits were batched")
        #expect(batches.max() ?? 0 <= RedisAdmitBatcher.maxBatch)
    }

    @Test func connectionFailuresNameTheServerNeverThePassword() {
        let (limiter, _) = Self.unreachable(.open)
        _ = limiter
        do {
            _ = try RedisConnection(RedisAddress(host: "127.0.0.1", port: 1, password: "hunter2"), timeout: .milliseconds(200))
            Issue.record("connected to a closed port")
        } catch {
            #expect(!error.description.isEmpty)
            #expect(!error.description.contains("hunter2"))
        }
    }
}
