import Foundation
import GatewayCore

/// A few connections to one Redis server, shared by a process's worker threads, and
/// whether the server is up.
///
/// Requests never wait for a server that is down: the first failure of any command marks
/// it down, drops the idle connections and makes `run` answer `nil` at once (the limiter
/// falls back) until `probe`, called every second by the limiter's keeper, connects again.
final class RedisConnectionPool: @unchecked Sendable {
    let address: RedisAddress
    private let timeout: Duration
    private let maxConnections: Int
    /// Guards everything below; threads wait on it for a connection when all are out.
    private let condition = NSCondition()
    private var idle: [RedisConnection] = []
    private var checkedOut = 0
    private var up = false
    private var lastFailure = "not connected yet"

    /// How long a request waits for a connection when every one is busy, before it is
    /// decided without Redis (the server is not marked down for it).
    private static let checkoutWait: TimeInterval = 0.25

    init(address: RedisAddress, timeout: Duration, maxConnections: Int) {
        self.address = address
        self.timeout = timeout
        self.maxConnections = max(1, maxConnections)
    }

    var isUp: Bool {
        condition.lock()
        defer { condition.unlock() }
        return up
    }

    /// Why the server was last marked down.
    var failure: String {
        condition.lock()
        defer { condition.unlock() }
        return lastFailure
    }

    /// Runs `body` on a connection; `nil` when the server is down, no connection came
    /// free in time, or `body` failed (then the server is marked down).
    func run<Result>(_ body: (RedisConnection) throws(RedisConnection.Failure) -> Result) -> Result? {
        guard let connection = checkOut() else { return nil }
        do {
            let result = try body(connection)
            checkIn(connection)
            return result
        } catch {
            drop(markingDown: error.description)
            return nil
        }
    }

    /// Connects a new connection if the server is down; `true` when it is up afterwards.
    @discardableResult
    func probe() -> Bool {
        if isUp { return true }
        do {
            let connection = try Self.connect(address, timeout: timeout)
            condition.lock()
            up = true
            idle.append(connection)
            condition.broadcast()
            condition.unlock()
            return true
        } catch {
            condition.lock()
            lastFailure = error.description
            condition.unlock()
            return false
        }
    }

    /// A connection with the scripts loaded.
    static func connect(_ address: RedisAddress, timeout: Duration) throws(RedisConnection.Failure) -> RedisConnection {
        let connection = try RedisConnection(address, timeout: timeout)
        try connection.loadScripts()
        return connection
    }

    /// Marks the server down after a reply no script gives; the probe decides when it
    /// is back.
    func markDown(_ reason: String) {
        forgetConnections(markingDown: reason, returningOne: false)
    }

    // MARK: checkout

    private func checkOut() -> RedisConnection? {
        let deadline = Date(timeIntervalSinceNow: Self.checkoutWait)
        condition.lock()
        while true {
            guard up else {
                condition.unlock()
                return nil
            }
            if let connection = idle.popLast() {
                checkedOut += 1
                condition.unlock()
                return connection
            }
            if checkedOut + idle.count < maxConnections {
                checkedOut += 1
                condition.unlock()
                do {
                    return try Self.connect(address, timeout: timeout)
                } catch {
                    drop(markingDown: error.description)
                    return nil
                }
            }
            guard condition.wait(until: deadline) else {
                condition.unlock()
                return nil
            }
        }
    }

    private func checkIn(_ connection: RedisConnection) {
        condition.lock()
        checkedOut -= 1
        // A connection that worked while the server was marked down is not kept: the
        // probe decides when the server is back.
        if up { idle.append(connection) }
        condition.signal()
        condition.unlock()
    }

    /// Forgets a checked-out connection that failed, and every idle one with it.
    private func drop(markingDown reason: String) {
        forgetConnections(markingDown: reason, returningOne: true)
    }

    /// Marks the server down and closes the idle connections; `returningOne`: a
    /// checked-out connection is being dropped too.
    private func forgetConnections(markingDown reason: String, returningOne: Bool) {
        condition.lock()
        if returningOne { checkedOut -= 1 }
        up = false
        lastFailure = reason
        let stale = idle
        idle.removeAll()
        condition.broadcast()
        condition.unlock()
        _ = stale  // freed here, outside the lock
    }
}

extension RedisConnection {
    /// SCRIPT LOAD of every script, in one round trip.
    func loadScripts() throws(Failure) {
        for script in RedisScript.allCases { try append(["SCRIPT", "LOAD", script.rawValue]) }
        for script in RedisScript.allCases {
            guard case .string(let sha) = try reply() else {
                throw Failure(description: "SCRIPT LOAD refused")
            }
            loaded[script.slot] = sha
        }
    }

    /// Sends `script` without waiting for its reply (`send`): as its text (EVAL), since
    /// a reply nobody reads could not say the server had lost it. Redis keeps the
    /// compiled script by its SHA-1, so only the few bytes of text cost anything.
    func start(_ script: RedisScript, keys: [String], arguments: [String]) throws(Failure) {
        try send(["EVAL", script.rawValue, String(keys.count)] + keys + arguments)
    }

    /// Queues `script` by its SHA-1; `reply()` reads its answer (after those queued before).
    func appendScript(_ script: RedisScript, keys: [String], arguments: [String]) throws(Failure) {
        guard let sha = loaded[script.slot] else { throw Failure(description: "script not loaded") }
        try append(["EVALSHA", sha, String(keys.count)] + keys + arguments)
    }

    /// Runs `script` by its SHA-1, loading it again once if the server lost it (a
    /// SCRIPT FLUSH, or a restart behind a proxy).
    func run(_ script: RedisScript, keys: [String], arguments: [String]) throws(Failure) -> RedisReply {
        for attempt in 0..<2 {
            guard let sha = loaded[script.slot] else { throw Failure(description: "script not loaded") }
            let reply = try command(["EVALSHA", sha, String(keys.count)] + keys + arguments)
            guard attempt == 0, reply.errorMessage?.hasPrefix("NOSCRIPT") == true else { return reply }
            try loadScripts()
        }
        throw Failure(description: "script not loaded")
    }
}
