import Foundation
import Testing

@testable import FCGIPassThrough
@testable import GatewayCore
@testable import Operations

/// Other hosts' spend read from the shared ledger into the host-wide table.
@Suite struct SharedSpendRefresherTests {
    static let hourly = VirtualKey(
        alias: "hourly", digest: KeyDigest(of: "sk-hourly"), maxBudget: 1.0, budgetDuration: (3_600, "1h"))
    static let daily = VirtualKey(alias: "daily", digest: KeyDigest(of: "sk-daily"), maxBudget: 2.0, budgetDuration: (86_400, "1d"))
    static let unbudgeted = VirtualKey(alias: "free", digest: KeyDigest(of: "sk-free"), rpmLimit: 10)

    @Test func eachWindowIsReadOnceAndEveryBudgetedKeyGetsItsFigure() {
        let clock = ManualClock()  // 1_000_000: the hour began at 997_200, the day at 950_400
        let table = SharedKeyLimits.anonymous(now: clock.now)
        let reads = Locked<[Double]>([])
        let refresher = SharedSpendRefresher(
            table: { table },
            read: { since in
                reads.withLock { $0.append(since) }
                return since == 997_200 ? ["hourly": 0.75, "other": 9] : ["daily": 1.5]
            },
            keys: { [Self.hourly, Self.daily, Self.unbudgeted] }, now: clock.now)
        #expect(refresher.refresh() == 2)
        #expect(reads.withLock { $0.sorted() } == [950_400, 997_200])
        #expect(table.otherHostsSpend(Self.hourly.digest, budget: Self.hourly.limits.budget!) == 0.75)
        #expect(table.otherHostsSpend(Self.daily.digest, budget: Self.daily.limits.budget!) == 1.5)
        // This host's own 0.25 plus the other hosts' 0.75 reaches the hourly budget.
        table.charge(Self.hourly.digest, limits: Self.hourly.limits, tokens: 0, cost: 0.25)
        #expect(table.admit(Self.hourly.digest, limits: Self.hourly.limits) == .refused(.budget, retryAfter: 800, spend: 1.0))
        // Once a second per host: the same second is not read again.
        #expect(refresher.refresh() == 0)
        #expect(refresher.readSucceeded == true)
    }

    @Test func aFailedReadKeepsTheLastKnownSpend() {
        let clock = ManualClock()
        let table = SharedKeyLimits.anonymous(now: clock.now)
        let failing = Locked(false)
        struct Down: Error {}
        let refresher = SharedSpendRefresher(
            table: { table },
            read: { _ in
                if failing.withLock({ $0 }) { throw Down() }
                return ["hourly": 0.5]
            },
            keys: { [Self.hourly] }, now: clock.now)
        refresher.refresh()
        failing.withLock { $0 = true }
        clock.advance(1)
        #expect(refresher.refresh() == 0)
        #expect(refresher.readSucceeded == false)
        #expect(table.otherHostsSpend(Self.hourly.digest, budget: Self.hourly.limits.budget!) == 0.5)
    }

    @Test func withoutBudgetedKeysNothingIsRead() {
        let table = SharedKeyLimits.anonymous(now: ManualClock().now)
        let refresher = SharedSpendRefresher(
            table: { table },
            read: { _ in
                Issue.record("read without a budgeted key"); return [:]
            }, keys: { [Self.unbudgeted] })
        #expect(refresher.refresh() == 0)
    }
}

extension SharedSpendRefresherTests {
    @Test func stopWaitsForTheThreadAndNoReadFollows() {
        let table = SharedKeyLimits.anonymous()
        let reads = Locked(0)
        let refresher = SharedSpendRefresher(
            table: { table },
            read: { _ in
                reads.withLock { $0 += 1 }
                return [:]
            },
            keys: { [Self.hourly] })
        refresher.start()
        let started = ContinuousClock.now
        while reads.withLock({ $0 }) == 0 && ContinuousClock.now - started < .seconds(5) { Thread.sleep(forTimeInterval: 0.05) }
        #expect(reads.withLock { $0 } >= 1)
        refresher.stop()
        let after = reads.withLock { $0 }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(reads.withLock { $0 } == after)
        refresher.stop()  // a second stop is harmless
    }
}
