import Foundation
import Testing

@testable import GatewayCore
@testable import Operations

extension KeyLimitTableTests {
    func remainingTokens(_ admission: KeyAdmission) -> Int?? {
        guard case .admitted(_, _, let remaining) = admission else { return .none }
        return .some(remaining)
    }

    // MARK: tpm

    @Test func tpmCountsTheTokensOfTheLastSixtySeconds() {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let tpm = KeyLimits(tpm: 100)
        #expect(remainingTokens(limits.admit(key(1), limits: tpm)) == 100)
        limits.charge(key(1), limits: tpm, tokens: 60, cost: 0)
        clock.advance(10)
        #expect(remainingTokens(limits.admit(key(1), limits: tpm)) == 40)
        limits.charge(key(1), limits: tpm, tokens: 40, cost: 0)
        #expect(limits.tokensInWindow(key(1)) == 100)
        #expect(limits.admit(key(1), limits: tpm) == .refused(.tpm, retryAfter: 50))
        clock.advance(49)
        #expect(limits.admit(key(1), limits: tpm) == .refused(.tpm, retryAfter: 1))
        clock.advance(1)  // the 60 tokens' second leaves the window
        #expect(remainingTokens(limits.admit(key(1), limits: tpm)) == 60)
        #expect(limits.tokensInWindow(key(2)) == 0)
    }

    @Test func tokensOfAKeyWithoutTpmAreNotCounted() {
        let limits = SharedKeyLimits.anonymous(now: { 1_000_000 })
        limits.charge(key(1), limits: KeyLimits(budget: KeyBudget(maxBudget: 1)), tokens: 500, cost: 0.1)
        #expect(limits.tokensInWindow(key(1)) == 0)
        #expect(limits.budgetSpend(key(1), budget: KeyBudget(maxBudget: 1)).spend == 0.1)
    }

    // MARK: budget

    @Test func aBudgetAdmitsWhileTheSpendIsBelowItAndRefusesFromIt() {
        let limits = SharedKeyLimits.anonymous(now: { 1_000_000 })
        let budget = KeyLimits(budget: KeyBudget(maxBudget: 1.0))
        #expect(remaining(limits.admit(key(1), limits: budget)) != nil)
        limits.charge(key(1), limits: budget, tokens: 10, cost: 0.6)
        #expect(remaining(limits.admit(key(1), limits: budget)) != nil)
        limits.charge(key(1), limits: budget, tokens: 10, cost: 0.4)
        #expect(limits.admit(key(1), limits: budget) == .refused(.budget, retryAfter: 0, spend: 1.0))
        limits.charge(key(1), limits: budget, tokens: 10, cost: 0.25)  // a request in flight when it was crossed
        #expect(limits.admit(key(1), limits: budget) == .refused(.budget, retryAfter: 0, spend: 1.25))
        #expect(remaining(limits.admit(key(2), limits: budget)) != nil)
    }

    @Test func aBudgetWindowStartsAgainAtItsUTCBoundary() {
        let clock = ManualClock()  // 1_000_000: the hour began at 997_200 and ends at 1_000_800
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let budget = KeyLimits(budget: KeyBudget(maxBudget: 1.0, duration: 3_600))
        limits.charge(key(1), limits: budget, tokens: 0, cost: 2)
        #expect(limits.admit(key(1), limits: budget) == .refused(.budget, retryAfter: 800, spend: 2))
        clock.advance(799)
        #expect(limits.admit(key(1), limits: budget) == .refused(.budget, retryAfter: 1, spend: 2))
        clock.advance(1)
        #expect(remaining(limits.admit(key(1), limits: budget)) != nil)
        #expect(limits.budgetSpend(key(1), budget: KeyBudget(maxBudget: 1.0, duration: 3_600)).spend == 0)
        #expect(KeyBudget(maxBudget: 1, duration: 86_400).windowStart(at: 1_000_000) == 950_400)  // midnight UTC
    }

    @Test func aBudgetIsSeededOnceForItsWindow() {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let daily = KeyBudget(maxBudget: 10, duration: 86_400)
        let budget = KeyLimits(budget: daily)
        #expect(limits.unseededBudgetWindow(key(1), limits: KeyLimits(rpm: 5)) == nil)
        #expect(limits.unseededBudgetWindow(key(1), limits: budget) == 950_400)
        limits.seed(key(1), limits: budget, windowStart: 864_000, spend: 99)  // a window gone by: ignored
        #expect(limits.unseededBudgetWindow(key(1), limits: budget) == 950_400)
        limits.seed(key(1), limits: budget, windowStart: 950_400, spend: 9.5)
        #expect(limits.unseededBudgetWindow(key(1), limits: budget) == nil)
        limits.seed(key(1), limits: budget, windowStart: 950_400, spend: 100)  // another process, later: ignored
        #expect(limits.budgetSpend(key(1), budget: daily) == (9.5, true))
        limits.charge(key(1), limits: budget, tokens: 0, cost: 0.5)
        #expect(limits.admit(key(1), limits: budget) == .refused(.budget, retryAfter: 36_800, spend: 10))
        clock.advance(36_800)  // the next day: known to start at 0, nothing to seed
        #expect(limits.unseededBudgetWindow(key(1), limits: budget) == nil)
        #expect(limits.budgetSpend(key(1), budget: daily) == (0, true))
    }

    @Test func aChargeMadeBeforeTheSeedIsNotCountedTwice() {
        let limits = SharedKeyLimits.anonymous(now: { 1_000_000 })
        let budget = KeyLimits(budget: KeyBudget(maxBudget: 10))
        limits.charge(key(1), limits: budget, tokens: 0, cost: 2)
        limits.seed(key(1), limits: budget, windowStart: 0, spend: 2)  // the ledger has the same request
        #expect(limits.budgetSpend(key(1), budget: KeyBudget(maxBudget: 10)) == (2, true))
    }

    @Test func twoInstancesOfOneFileShareSpendAndTokens() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let first = try SharedKeyLimits.open(path: directory + "/limits", now: clock.now)
        let second = try SharedKeyLimits.open(path: directory + "/limits", now: clock.now)
        let limits = KeyLimits(tpm: 50, budget: KeyBudget(maxBudget: 1, duration: 60))
        #expect(remainingTokens(first.admit(key(1), limits: limits)) == 50)
        first.charge(key(1), limits: limits, tokens: 30, cost: 0.5)
        #expect(second.tokensInWindow(key(1)) == 30)
        #expect(second.budgetSpend(key(1), budget: KeyBudget(maxBudget: 1, duration: 60)).spend == 0.5)
        #expect(remainingTokens(second.admit(key(1), limits: limits)) == 20)
        second.charge(key(1), limits: limits, tokens: 30, cost: 0.5)
        #expect(first.admit(key(1), limits: limits) == .refused(.budget, retryAfter: 20, spend: 1))
    }
}

extension KeyLimitTableTests {
    // MARK: other hosts' spend

    @Test func otherHostsSpendCountsTowardsTheBudgetForItsWindowOnly() {
        let clock = ManualClock()  // the hour began at 997_200 and ends at 1_000_800
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let budget = KeyBudget(maxBudget: 1.0, duration: 3_600)
        let keyed = KeyLimits(budget: budget)
        limits.charge(key(1), limits: keyed, tokens: 0, cost: 0.4)
        limits.setOtherHostsSpend(key(1), limits: keyed, windowStart: 997_200, spend: 0.5)
        #expect(limits.otherHostsSpend(key(1), budget: budget) == 0.5)
        #expect(remaining(limits.admit(key(1), limits: keyed)) != nil)
        // The other hosts' figure is replaced, not added to: it is their total so far.
        limits.setOtherHostsSpend(key(1), limits: keyed, windowStart: 997_200, spend: 0.6)
        #expect(limits.admit(key(1), limits: keyed) == .refused(.budget, retryAfter: 800, spend: 1.0))
        // A figure for a window that is over is ignored; the next window starts from 0.
        limits.setOtherHostsSpend(key(1), limits: keyed, windowStart: 993_600, spend: 5)
        #expect(limits.otherHostsSpend(key(1), budget: budget) == 0.6)
        clock.advance(800)
        #expect(limits.otherHostsSpend(key(1), budget: budget) == 0)
        #expect(remaining(limits.admit(key(1), limits: keyed)) != nil)
        // Nonsense from a store is taken as nothing rather than as a negative spend.
        limits.setOtherHostsSpend(key(1), limits: keyed, windowStart: 1_000_800, spend: -.infinity)
        #expect(limits.otherHostsSpend(key(1), budget: budget) == 0)
    }

    @Test func oneProcessPerSecondTakesTheSharedSpendRefresh() throws {
        let clock = ManualClock()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("refresh-\(UUID().uuidString).limits").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try SharedKeyLimits.open(path: path, now: clock.now)
        let second = try SharedKeyLimits.open(path: path, now: clock.now)
        #expect(first.claimSharedSpendRefresh())
        #expect(!second.claimSharedSpendRefresh())
        #expect(!first.claimSharedSpendRefresh())
        clock.advance(1)
        #expect(second.claimSharedSpendRefresh())
        #expect(!first.claimSharedSpendRefresh())
    }
}
