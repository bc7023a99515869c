import Foundation
import Testing

@testable import GatewayCore
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
        let port = Int.random(in: 20_000...60_000)
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
        for _ in 0..<100 where connection == nil {
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

    func admit(_ connection: RedisConnection, rpm: Int = -1, tpm: Int = -1, parallel: Int = -1, member: String = "")
        throws -> KeyAdmission?
    {
        let reply = try connection.run(
            .admit, keys: [names.requests, names.tokens, names.leases],
            arguments: [String(rpm), String(tpm), String(parallel), member, "15000", "120000"])
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

    @Test(.enabled(if: available)) func aFlushedScriptIsLoadedAgain() throws {
        try withServer { connection, _ throws in
            #expect(try connection.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(try admit(connection, rpm: 5) == .admitted(lease: nil, remainingRequests: 4, remainingTokens: nil))
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
