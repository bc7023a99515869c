import Foundation
import Testing

@testable import GatewayCore
@testable import Operations
@testable import SharedLimits

/// The limit scripts on a real redis-server (Debian's, started here on a free port, no
/// files kept); skipped where it is not installed. Old seconds are written into the
/// hashes by hand, relative to the server's clock, so a window that moved on is tested
/// without waiting a minute.
@Suite(.serialized) struct RedisScriptTests {
    static let binary = "/usr/bin/redis-server"
    static let password = "script-tests-\(UInt32.random(in: 0...UInt32.max))"

    /// A running server and a connection to it, stopped at the end of `body`.
    func withServer(_ body: (RedisConnection, RedisAddress) throws -> Void) throws {
        let port = TestPostgres.freePort()
        let process = try TestProcess(
            [
                Self.binary, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass",
                Self.password, "--dir", NSTemporaryDirectory(),
            ], quiet: true)
        defer {
            // SIGKILL: the test process may have SIGTERM blocked, and the child inherits that.
            kill(process.pid, SIGKILL)
            process.wait()
        }
        let address = RedisAddress(host: "127.0.0.1", port: port, password: Self.password)
        var connection: RedisConnection?
        // Up to 10 s: other suites start their servers and processes at the same time.
        for _ in 0..<200 where connection == nil {
            connection = try? RedisPoolForTests.connect(address)
            if connection == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let connection else {
            Issue.record("redis-server did not start on port \(port)")
            return
        }
        try body(connection, address)
    }

    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let names = RedisKeys.counters(KeyDigest(words: (9, 8, 7, 6)))

    func now(_ connection: RedisConnection) throws -> Int {
        guard case .array(let time) = try connection.command(["TIME"]), let seconds = time.first?.integerValue else {
            throw RedisConnection.Failure(description: "TIME")
        }
        return seconds
    }

    func admit(
        _ connection: RedisConnection, rpm: Int = -1, tpm: Int = -1, parallel: Int = -1, member: String = "",
        releasing: [String] = []
    ) throws -> KeyAdmission? {
        let reply = try connection.run(
            .admit, keys: [names.requests, names.tokens, names.leases],
            arguments: [String(rpm), String(tpm), String(parallel), member, "15000", "120000"] + releasing)
        return RedisAdmitReply.admission(from: reply, lease: nil)
    }

    @Test(.enabled(if: available)) func aWindowThatMovedOnDropsOnlyTheSecondsThatLeftIt() throws {
        try withServer { connection, _ throws in
            let now = try now(connection)
            // Kept sum and oldest second: 5 requests 65 s ago, 2 at 50 s, 3 at 30 s.
            _ = try connection.command([
                "HSET", names.requests, String(now - 65), "5", String(now - 50), "2", String(now - 30), "3", "sum", "10",
                "from", String(now - 70),
            ])
            #expect(try admit(connection, rpm: 6) == .admitted(lease: nil, remainingRequests: 0, remainingTokens: nil))
            guard case .refused(.rpm, let retryAfter, _) = try admit(connection, rpm: 6) else {
                Issue.record("not refused at 6")
                return
            }
            #expect((9...11).contains(retryAfter))  // the bucket of 50 s ago leaves in 10 s
            #expect(try connection.command(["HEXISTS", names.requests, String(now - 65)]) == .integer(0))
            #expect(try connection.command(["HGET", names.requests, "sum"]) == .string("6"))
        }
    }

    @Test(.enabled(if: available)) func aWindowWithoutItsSumIsCountedFromItsBuckets() throws {
        try withServer { connection, _ throws in
            let now = try now(connection)
            _ = try connection.command(["HSET", names.requests, String(now - 100), "4", String(now - 40), "2"])
            #expect(try admit(connection, rpm: 3) == .admitted(lease: nil, remainingRequests: 0, remainingTokens: nil))
            #expect(try connection.command(["HEXISTS", names.requests, String(now - 100)]) == .integer(0))
            let ttl = try connection.command(["PTTL", names.requests]).integerValue ?? -1
            #expect((100_000...120_000).contains(ttl))
        }
    }

    @Test(.enabled(if: available)) func tokensAreChargedAndCounted() throws {
        try withServer { connection, _ throws in
            _ = try connection.run(.charge, keys: [names.tokens], arguments: ["100", "120000"])
            #expect(try admit(connection, tpm: 150) == .admitted(lease: nil, remainingRequests: nil, remainingTokens: 50))
            _ = try connection.run(.charge, keys: [names.tokens], arguments: ["60", "120000"])
            guard case .refused(.tpm, let retryAfter, _) = try admit(connection, tpm: 150) else {
                Issue.record("not refused at 160 tokens")
                return
            }
            #expect((59...60).contains(retryAfter))
        }
    }

    @Test(.enabled(if: available)) func leasesHoldExpireAndAreRefreshed() throws {
        try withServer { connection, _ throws in
            #expect(try admit(connection, parallel: 1, member: "a") == .admitted(lease: nil, remainingRequests: nil))
            #expect(try admit(connection, parallel: 1, member: "b") == .refused(.parallel, retryAfter: 1))
            _ = try connection.command(["ZREM", names.leases, "a"])
            #expect(try admit(connection, parallel: 1, member: "b") == .admitted(lease: nil, remainingRequests: nil))
            // An expired lease (a dead host's) no longer counts.
            _ = try connection.command(["ZADD", names.leases, "1", "b"])
            #expect(try admit(connection, parallel: 1, member: "c") == .admitted(lease: nil, remainingRequests: nil))
            // A refresh pushes a held lease's expiry out and brings back none that is gone.
            let before = try connection.command(["ZSCORE", names.leases, "c"]).integerValue ?? 0
            _ = try connection.run(.refresh, keys: [names.leases], arguments: ["60000", "c", "gone"])
            let after = try connection.command(["ZSCORE", names.leases, "c"]).integerValue ?? 0
            #expect(after >= before + 40_000)
            #expect(try connection.command(["ZSCORE", names.leases, "gone"]) == .null)
        }
    }

    @Test(.enabled(if: available)) func slotsGivenBackWithAnAdmitAreFreeBeforeItCounts() throws {
        try withServer { connection, _ throws in
            #expect(try admit(connection, parallel: 2, member: "a") == .admitted(lease: nil, remainingRequests: nil))
            #expect(try admit(connection, parallel: 2, member: "b") == .admitted(lease: nil, remainingRequests: nil))
            #expect(try admit(connection, parallel: 2, member: "c") == .refused(.parallel, retryAfter: 1))
            #expect(
                try admit(connection, parallel: 2, member: "c", releasing: ["a", "b"])
                    == .admitted(lease: nil, remainingRequests: nil))
            #expect(try connection.command(["ZRANGE", names.leases, "0", "-1"]) == .array([.string("c")]))
            // A refused admit still gives back what it carries.
            #expect(try admit(connection, parallel: 1, member: "d") == .refused(.parallel, retryAfter: 1))
            #expect(try admit(connection, parallel: 0, member: "d", releasing: ["c"]) == .refused(.parallel, retryAfter: 1))
            #expect(try connection.command(["ZCARD", names.leases]) == .integer(0))
        }
    }

    @Test(.enabled(if: available)) func requestsInOneSecondKeepTheWindowAndItsExpiry() throws {
        try withServer { connection, _ throws in
            for left in (1...5).reversed() {
                let admitted = try admit(connection, rpm: 6, parallel: 10, member: "m\(left)")
                #expect(admitted == .admitted(lease: nil, remainingRequests: left, remainingTokens: nil))
            }
            // Same second or not, the window holds five and its sum says so.
            let now = try now(connection)
            guard case .array(let kept) = try connection.command(["HMGET", names.requests, "sum", "from"]), kept.count == 2
            else {
                Issue.record("no sum and from")
                return
            }
            #expect(kept[0].integerValue == 5)
            #expect((now - 60...now - 59).contains(kept[1].integerValue ?? 0))
            let counted = try connection.command(["HGETALL", names.requests])
            guard case .array(let items) = counted else {
                Issue.record("no window")
                return
            }
            var buckets = 0
            for index in stride(from: 0, to: items.count - 1, by: 2) where items[index] != .string("sum") && items[index] != .string("from")
            {
                buckets += items[index + 1].integerValue ?? 0
            }
            #expect(buckets == 5)
            // Both names expire by themselves: the window after its idle time, the slots
            // a second after their lease.
            #expect((100_000...120_000).contains(try connection.command(["PTTL", names.requests]).integerValue ?? -1))
            #expect((14_000...16_000).contains(try connection.command(["PTTL", names.leases]).integerValue ?? -1))
        }
    }

    @Test(.enabled(if: available)) func aQuietProcessGivesSlotsBackAtOnceABusyOneWithItsNextAdmit() throws {
        try withServer { connection, address throws in
            let limiter = RedisLimiter(
                address: address, failure: .closed, host: SharedKeyLimits.anonymous(), logger: Logger(level: .error),
                metrics: nil)
            let digest = KeyDigest(words: (5, 5, 5, 5))
            let slots = RedisKeys.counters(digest).leases
            let limits = KeyLimits(parallel: 2)
            func take() -> KeyLease? {
                guard case .admitted(let lease?, _, _) = limiter.admit(digest, limits: limits) else { return nil }
                return lease
            }
            func held() throws -> Int { try connection.command(["ZCARD", slots]).integerValue ?? -1 }
            /// A release not waited for: the count it leads to, within a second.
            func eventually(_ count: Int) throws -> Bool {
                for _ in 0..<100 {
                    if try held() == count { return true }
                    Thread.sleep(forTimeInterval: 0.01)
                }
                return false
            }
            // Quiet: no other admit since its own, so the slot goes at once.
            let a = try #require(take())
            limiter.release(a)
            #expect(try eventually(0))
            // Busy: another admit came after b's, so b waits for the next one to carry it.
            let b = try #require(take())
            let c = try #require(take())
            limiter.release(b)
            #expect(try held() == 2)
            let d = try #require(take(), "b's slot is carried by this admit and freed before it counts")
            #expect(try held() == 2)
            // Nothing carries c's: the flusher sends it.
            limiter.release(c)
            #expect(try held() == 2)
            limiter.sendWaitingReleases()
            #expect(try eventually(1))
            limiter.release(d)
            #expect(try eventually(0))
        }
    }

    @Test(.enabled(if: available)) func aFlushedScriptIsLoadedAgain() throws {
        try withServer { connection, address throws in
            #expect(try connection.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(try admit(connection, rpm: 5) == .admitted(lease: nil, remainingRequests: 4, remainingTokens: nil))
            // The limiter's batched admits too.
            let limiter = RedisLimiter(
                address: address, failure: .closed, host: SharedKeyLimits.anonymous(), logger: Logger(level: .error),
                metrics: nil)
            let digest = KeyDigest(words: (6, 6, 6, 6))
            #expect(limiter.admit(digest, limits: KeyLimits(rpm: 5)) == .admitted(lease: nil, remainingRequests: 4))
            #expect(try connection.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(limiter.admit(digest, limits: KeyLimits(rpm: 5)) == .admitted(lease: nil, remainingRequests: 3))
            #expect(limiter.isUp)
        }
    }

    @Test(.enabled(if: available)) func aWrongPasswordIsRefusedWithoutBeingQuoted() throws {
        try withServer { _, address throws in
            var wrong = address
            wrong.password = "not-the-password-\(UInt32.random(in: 0...UInt32.max))"
            do {
                _ = try RedisPoolForTests.connect(wrong)
                Issue.record("connected with a wrong password")
            } catch let error as RedisConnection.Failure {
                #expect(error.description.contains("AUTH"))
                #expect(!error.description.contains(wrong.password!))
            }
        }
    }
}

/// The pool's connect (connection, AUTH, scripts loaded) as the limiter uses it.
enum RedisPoolForTests {
    static func connect(_ address: RedisAddress) throws(RedisConnection.Failure) -> RedisConnection {
        try RedisConnectionPool.connect(address, timeout: .milliseconds(500))
    }
}
