import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    let time = Locked(1_000_000.0)

    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    var now: @Sendable () -> Double { { self.time.withLock { $0 } } }
}

@Suite struct KeyLimitTableTests {
    /// Keys whose home slot is `home`: different `other` words make different keys there.
    func key(_ home: Int, _ other: UInt64 = 7) -> KeyDigest {
        KeyDigest(words: (UInt64(home), other, 0xFEED, 0xBEEF))
    }

    func remaining(_ admission: KeyAdmission) -> Int?? {
        guard case .admitted(_, let remaining, _) = admission else { return .none }
        return .some(remaining)
    }

    func lease(_ admission: KeyAdmission) -> KeyLease? {
        guard case .admitted(let lease, _, _) = admission else { return nil }
        return lease
    }

    /// A directory of its own, removed by the caller.
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keylimits-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    func spawn(_ arguments: [String]) throws -> pid_t {
        try TestProcess(arguments).pid
    }

    /// Waits for a child started by `spawn` and collects it.
    func reap(_ pid: pid_t) {
        TestProcess(pid: pid).wait()
    }

    /// The pid of a process that has exited and been collected.
    func deadPid() throws -> Int32 {
        let pid = try spawn(["/bin/true"])
        reap(pid)
        return pid
    }

    // MARK: rpm

    @Test func rpmAdmitsExactlyTheLimitAndSaysWhatRemains() {
        let limits = SharedKeyLimits.anonymous(now: { 1_000_000.5 })
        let rpm = KeyLimits(rpm: 3)
        #expect(limits.admit(key(1), limits: rpm) == .admitted(lease: nil, remainingRequests: 2))
        #expect(limits.admit(key(1), limits: rpm) == .admitted(lease: nil, remainingRequests: 1))
        #expect(limits.admit(key(1), limits: rpm) == .admitted(lease: nil, remainingRequests: 0))
        guard case .refused(.rpm, let retryAfter, _) = limits.admit(key(1), limits: rpm) else {
            Issue.record("the fourth request was not refused by rpm")
            return
        }
        #expect((1...60).contains(retryAfter))
        #expect(retryAfter == 60)
        #expect(limits.usage(key(1)).requestsInWindow == 3)
    }

    /// A request that read the clock just before a second turned, and took the mutex after
    /// one counted in the new second, looked at the window from the second before, where a
    /// bucket from the future does not count: rpm 1 admitted both. The clock is now read
    /// with the mutex held. Here the first request's clock call waits (up to half a second)
    /// for the second request to be decided: read outside the mutex that wait lets the
    /// second one in first; read inside, the second one waits for the first.
    @Test func aRequestThatWaitedForTheMutexAcrossASecondStillSeesTheCount() async throws {
        let second = 1_000_000.0
        let firstIsReading = Locked(true)
        let secondDecided = DispatchSemaphore(value: 0)
        let limits = SharedKeyLimits.anonymous(now: {
            guard
                firstIsReading.withLock({ reading in
                    defer { reading = false }
                    return reading
                })
            else { return second + 1.5 }
            _ = secondDecided.wait(timeout: .now() + 0.5)
            return second + 0.999
        })
        let rpm = KeyLimits(rpm: 1)
        let first = Task.detached { limits.admit(self.key(1), limits: rpm) }
        // Let the first request reach its clock call before the second one starts.
        while firstIsReading.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        let later = Task.detached {
            defer { secondDecided.signal() }
            return limits.admit(self.key(1), limits: rpm)
        }
        let answers = [await first.value, await later.value]
        #expect(answers.filter { if case .admitted = $0 { true } else { false } }.count == 1, "\(answers)")
    }

    @Test func theWindowSlidesSecondBySecond() {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let rpm = KeyLimits(rpm: 3)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 2)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 1)
        clock.advance(30)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 0)
        clock.advance(29)  // 59 s after the first two
        #expect(limits.admit(key(1), limits: rpm) == .refused(.rpm, retryAfter: 1))
        clock.advance(1)  // the first two leave the window, the third stays
        #expect(limits.usage(key(1)).requestsInWindow == 1)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 1)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 0)
        #expect(limits.admit(key(1), limits: rpm) == .refused(.rpm, retryAfter: 30))
        clock.advance(30)  // the third leaves
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 0)
        clock.advance(60)
        #expect(limits.usage(key(1)).requestsInWindow == 0)
    }

    @Test func aRefusedRequestDoesNotCount() {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let rpm = KeyLimits(rpm: 1)
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 0)
        for _ in 0..<5 {
            clock.advance(10)
            guard case .refused(.rpm, _, _) = limits.admit(key(1), limits: rpm) else {
                Issue.record("admitted over the limit")
                return
            }
        }
        #expect(limits.usage(key(1)).requestsInWindow == 1)
        clock.advance(10)  // 60 s after the one counted request
        #expect(remaining(limits.admit(key(1), limits: rpm)) == 0)
    }

    @Test func withoutLimitsTheTableIsNotTouched() {
        let limits = SharedKeyLimits.anonymous()
        #expect(limits.admit(key(1), limits: KeyLimits()) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limits.usage(key(1)) == (0, 0))
    }

    // MARK: parallel

    @Test func parallelSlotsAreLeasedAndGivenBack() throws {
        let limits = SharedKeyLimits.anonymous()
        let two = KeyLimits(parallel: 2)
        let first = try #require(lease(limits.admit(key(1), limits: two)))
        let second = limits.admit(key(1), limits: two)
        guard case .admitted(.some, nil, _) = second else {
            Issue.record("second request: \(second)")
            return
        }
        #expect(limits.admit(key(1), limits: two) == .refused(.parallel, retryAfter: 1))
        #expect(limits.usage(key(1)).inFlight == 2)
        limits.release(first)
        #expect(limits.usage(key(1)).inFlight == 1)
        #expect(lease(limits.admit(key(1), limits: two)) != nil)
        #expect(limits.usage(key(1)) == (3, 2))
    }

    @Test func aLeaseGivenBackTwiceOrForgedFreesNothing() throws {
        let limits = SharedKeyLimits.anonymous()
        let three = KeyLimits(parallel: 3)
        let first = try #require(lease(limits.admit(key(1), limits: three)))
        _ = try #require(lease(limits.admit(key(1), limits: three)))
        limits.release(first)
        limits.release(first)
        #expect(limits.usage(key(1)).inFlight == 1)
        // The entry is handed out again: the old lease must not free the new holder's slot.
        let reused = try #require(lease(limits.admit(key(1), limits: three)))
        #expect(reused.index == first.index && reused.generation != first.generation)
        limits.release(first)
        limits.release(KeyLease(index: 60_000, generation: 0))
        limits.release(KeyLease(index: -1, generation: 0))
        #expect(limits.usage(key(1)).inFlight == 2)
    }

    // MARK: keys

    @Test func keysAreCountedApartEvenWhenTheyShareAHomeSlot() {
        let limits = SharedKeyLimits.anonymous(now: { 1_000_000 })
        let one = KeyLimits(rpm: 1, parallel: 1)
        for other in 1...3 as ClosedRange<UInt64> {
            #expect(lease(limits.admit(key(5, other), limits: one)) != nil)
            #expect(limits.admit(key(5, other), limits: one) == .refused(.rpm, retryAfter: 60))
        }
        #expect(lease(limits.admit(key(6), limits: one)) != nil)
        #expect(limits.usage(key(5, 2)) == (1, 1))
        #expect(limits.usage(key(5, 4)) == (0, 0))
    }

    @Test func aFullTableAdmitsUncountedAndCountsIt() {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let rpm = KeyLimits(rpm: 10)
        for home in 0..<SharedKeyLimits.maxKeys {
            #expect(remaining(limits.admit(key(home), limits: rpm)) == 9)
        }
        #expect(limits.tableFullCount == 0)
        #expect(limits.admit(key(0, 99), limits: rpm) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limits.tableFullCount == 1)
        #expect(limits.usage(key(0, 99)) == (0, 0))
        clock.advance(60)  // every key idle: their slots can be taken over
        #expect(remaining(limits.admit(key(0, 99), limits: rpm)) == 9)
        #expect(limits.usage(key(0, 99)).requestsInWindow == 1)
        #expect(limits.tableFullCount == 1)
    }

    @Test func noFreeLeaseAdmitsWithoutALeaseAndCountsIt() {
        let limits = SharedKeyLimits.anonymous()
        let wide = KeyLimits(parallel: 1_000_000)
        for _ in 0..<65_536 {
            guard lease(limits.admit(key(1), limits: wide)) != nil else {
                Issue.record("ran out of leases early")
                return
            }
        }
        #expect(limits.admit(key(1), limits: wide) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limits.tableFullCount == 1)
        #expect(limits.usage(key(1)).inFlight == 65_536)
    }

    // MARK: the shared file

    @Test func twoInstancesOfOneFileShareTheirCounts() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/limits"
        let first = try SharedKeyLimits.open(path: path)
        let second = try SharedKeyLimits.open(path: path)
        let limits = KeyLimits(rpm: 2, parallel: 5)
        let held = try #require(lease(first.admit(key(1), limits: limits)))
        #expect(second.usage(key(1)) == (1, 1))
        #expect(remaining(second.admit(key(1), limits: limits)) == 0)
        guard case .refused(.rpm, _, _) = first.admit(key(1), limits: limits) else {
            Issue.record("the second instance's request was not counted")
            return
        }
        second.release(held)
        #expect(first.usage(key(1)) == (2, 1))
    }

    @Test func theFileIsCreatedForItsOwnerOnly() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/limits"
        _ = try SharedKeyLimits.open(path: path)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(status.st_size == off_t(KeyLimitsLayout.size))
        // Sparse: an empty table takes a few pages, not its 19 MB.
        #expect(Int(status.st_blocks) * 512 < 1 << 20)

        let loose = directory + "/loose"
        #expect(creat(loose, 0o644) >= 0)
        chmod(loose, 0o644)
        _ = try SharedKeyLimits.open(path: loose)
        #expect(stat(loose, &status) == 0 && status.st_mode & 0o777 == 0o600)
    }

    @Test func aLinkADirectoryOrAFIFOIsRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try SharedKeyLimits.open(path: directory + "/real")
        #expect(symlink(directory + "/real", directory + "/link") == 0)
        #expect(throws: KeyLimitsFileError.cannotOpen(path: directory + "/link", errno: ELOOP)) {
            try SharedKeyLimits.open(path: directory + "/link")
        }
        #expect(throws: KeyLimitsFileError.self) { try SharedKeyLimits.open(path: directory) }
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        #expect(throws: KeyLimitsFileError.notARegularFile(path: directory + "/fifo")) {
            try SharedKeyLimits.open(path: directory + "/fifo")
        }
        let message = KeyLimitsFileError.cannotOpen(path: "/x", errno: ELOOP).description
        #expect(message.contains("/x") && message.contains("symbolic link"))
        #expect(KeyLimitsFileError.systemCall(path: "/x", call: "mmap", errno: ENOMEM).description.contains("mmap failed"))
    }

    @Test(arguments: ["magic", "boot", "size"])
    func aForeignOrCorruptFileIsInitialisedAgain(damage: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/limits"
        do {
            let limits = try SharedKeyLimits.open(path: path)
            _ = limits.admit(key(1), limits: KeyLimits(rpm: 5, parallel: 5))
        }
        #expect(try SharedKeyLimits.open(path: path).usage(key(1)) == (1, 1))
        let fd = open(path, O_RDWR)
        #expect(fd >= 0)
        switch damage {
        case "magic": #expect(pwrite(fd, "NOTOURS!", 8, 0) == 8)
        case "boot": #expect(pwrite(fd, "an-earlier-boot", 15, off_t(KeyLimitsLayout.Header.bootID)) == 15)
        default: #expect(ftruncate(fd, 4096) == 0)
        }
        close(fd)
        let limits = try SharedKeyLimits.open(path: path)
        #expect(limits.usage(key(1)) == (0, 0))
        #expect(remaining(limits.admit(key(1), limits: KeyLimits(rpm: 5))) == 4)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_size == off_t(KeyLimitsLayout.size))
    }

    // MARK: dead holders

    @Test func theLeasesOfAProcessThatIsGoneAreReclaimed() throws {
        let limits = SharedKeyLimits.anonymous()
        let many = KeyLimits(parallel: 10)
        let dead = LeaseHolder(pid: try deadPid(), startTime: 1)
        let reused = LeaseHolder(pid: getpid(), startTime: limits.holder.startTime &+ 1)
        _ = try #require(lease(limits.admit(key(1), limits: many, holder: dead)))
        _ = try #require(lease(limits.admit(key(1), limits: many, holder: dead)))
        _ = try #require(lease(limits.admit(key(1), limits: many, holder: reused)))
        let mine = try #require(lease(limits.admit(key(1), limits: many)))
        #expect(limits.usage(key(1)).inFlight == 4)
        #expect(limits.sweepDeadHolders() == 3)
        #expect(limits.usage(key(1)).inFlight == 1)
        #expect(limits.sweepDeadHolders() == 0)
        limits.release(mine)
        #expect(limits.usage(key(1)).inFlight == 0)
    }

    @Test func aLiveProcessKeepsItsLeasesUntilItIsGone() throws {
        let limits = SharedKeyLimits.anonymous()
        let sleeper = try spawn(["/bin/sleep", "30"])
        var reaped = false
        defer {
            if !reaped {
                kill(sleeper, SIGKILL)
                reap(sleeper)
            }
        }
        guard case .found(let stat) = ProcessStat.lookup(pid: sleeper) else {
            Issue.record("cannot read the sleeper's start time")
            return
        }
        let holder = LeaseHolder(pid: sleeper, startTime: stat.startTime)
        _ = try #require(lease(limits.admit(key(1), limits: KeyLimits(parallel: 1), holder: holder)))
        #expect(limits.sweepDeadHolders() == 0)
        #expect(limits.usage(key(1)).inFlight == 1)
        // SIGKILL: the test process may block SIGTERM, and a child inherits the mask.
        kill(sleeper, SIGKILL)
        reap(sleeper)
        reaped = true
        #expect(limits.sweepDeadHolders() == 1)
        #expect(limits.usage(key(1)).inFlight == 0)
    }

    @Test func aKeyAtItsLimitReclaimsDeadHoldersBeforeRefusing() throws {
        let clock = ManualClock()
        let limits = SharedKeyLimits.anonymous(now: clock.now)
        let one = KeyLimits(parallel: 1)
        let dead = LeaseHolder(pid: try deadPid(), startTime: 1)
        let stale = try #require(lease(limits.admit(key(1), limits: one, holder: dead)))
        let mine = try #require(lease(limits.admit(key(1), limits: one)))
        #expect(limits.usage(key(1)).inFlight == 1)
        limits.release(stale)  // the dead process's lease, already reclaimed: ignored
        #expect(limits.usage(key(1)).inFlight == 1)
        // A live holder (this process) at the limit: refused, nothing reclaimed.
        #expect(limits.admit(key(1), limits: one) == .refused(.parallel, retryAfter: 1))
        clock.advance(1)
        #expect(limits.admit(key(1), limits: one) == .refused(.parallel, retryAfter: 1))
        limits.release(mine)
        #expect(lease(limits.admit(key(1), limits: one)) != nil)
    }

    @Test func procStatFieldsAreCountedFromTheLastParenthesis() {
        let line = Array("42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 98765 20 21".utf8)
        let stat = ProcessStat.parse(line[...])
        #expect(stat?.state == UInt8(ascii: "S"))
        #expect(stat?.startTime == 98765)
        #expect(ProcessStat.parse(Array("42 (a) S 1".utf8)[...]) == nil)
    }

    // MARK: the mutex

    /// Locks the table's mutex on a thread that then exits without unlocking it. A robust
    /// mutex's next locker waits for that thread to be gone, then gets `EOWNERDEAD`.
    func lockOnAThreadThatExits(_ limits: SharedKeyLimits) {
        let locked = DispatchSemaphore(value: 0)
        Thread {
            pthread_mutex_lock(limits.mutex.pointer)
            locked.signal()
        }.start()
        locked.wait()
    }

    @Test func aMutexLeftByADeadThreadIsTakenOver() {
        let limits = SharedKeyLimits.anonymous()
        lockOnAThreadThatExits(limits)
        #expect(remaining(limits.admit(key(1), limits: KeyLimits(rpm: 2))) == 1)
        #expect(remaining(limits.admit(key(1), limits: KeyLimits(rpm: 2))) == 0)
        #expect(limits.lockFailureCount == 0)
    }

    @Test func anUnrecoverableMutexFailsOpenAndCounts() {
        let limits = SharedKeyLimits.anonymous()
        lockOnAThreadThatExits(limits)
        // Taken over and given back without being marked consistent: unrecoverable.
        #expect(pthread_mutex_lock(limits.mutex.pointer) == EOWNERDEAD)
        pthread_mutex_unlock(limits.mutex.pointer)
        #expect(limits.admit(key(1), limits: KeyLimits(rpm: 1)) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limits.admit(key(1), limits: KeyLimits(rpm: 1)) == .admitted(lease: nil, remainingRequests: nil))
        #expect(limits.lockFailureCount == 2)
    }

    // MARK: concurrency

    @Test func threadsAdmittingAndReleasingKeepExactTotals() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let instances = [try SharedKeyLimits.open(path: directory + "/l"), try SharedKeyLimits.open(path: directory + "/l")]
        let limits = KeyLimits(rpm: 1_000_000, parallel: 3)
        let perThread = 2_000
        let threads = 4
        let state = Locked((admitted: 0, refused: 0, holding: 0, most: 0))
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let table = instances[thread % 2]
            for _ in 0..<perThread {
                switch table.admit(key(3), limits: limits) {
                case .admitted(let lease?, _, _):
                    state.withLock {
                        $0.admitted += 1
                        $0.holding += 1
                        $0.most = max($0.most, $0.holding)
                    }
                    state.withLock { $0.holding -= 1 }
                    table.release(lease)
                case .admitted(nil, _, _): Issue.record("admitted without a lease")
                case .refused(let rule, _, _):
                    #expect(rule == .parallel)
                    state.withLock { $0.refused += 1 }
                case .unavailable: Issue.record("the host table is always available")
                }
            }
        }
        let totals = state.withLock { $0 }
        #expect(totals.admitted + totals.refused == threads * perThread)
        #expect(totals.most <= 3)
        #expect(instances[0].usage(key(3)) == (totals.admitted, 0))
        #expect(instances[1].tableFullCount == 0 && instances[1].lockFailureCount == 0)
    }
}
