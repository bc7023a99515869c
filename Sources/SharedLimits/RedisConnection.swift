internal import CHiredis
import Foundation
import GatewayCore

/// One hiredis connection: connected, authenticated and on its database, with short
/// timeouts so a hung server cannot hold a request long. Used by one thread at a time
/// (`RedisConnectionPool` hands it out); freed with `redisFree` when it goes.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// SHA-1s of the loaded scripts, by `RedisScript.slot` (a dictionary keyed by the
    /// script would hash its whole text on every lookup).
    var loaded: [String?] = Array(repeating: nil, count: RedisScript.allCases.count)

    /// Why a connection or a command failed, for the log: never holds the password.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `address` within `timeout`, then AUTH and SELECT as configured.
    init(_ address: RedisAddress, timeout: Duration) throws(Failure) {
        let interval = Self.timeval(timeout)
        guard let context = redisConnectWithTimeout(address.host, Int32(clamping: address.port), interval) else {
            throw Failure(description: "cannot allocate a connection")
        }
        guard context.pointee.err == 0 else {
            let reason = Self.errorText(context)
            redisFree(context)
            throw Failure(description: reason)
        }
        self.context = context
        _ = redisSetTimeout(context, interval)
        if let password = address.password {
            let auth = address.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            // The reply may quote the user name, never the password: Redis does not echo it.
            try expectOK(auth, what: "AUTH")
        }
        if address.database != 0 { try expectOK(["SELECT", String(address.database)], what: "SELECT") }
    }

    deinit { redisFree(context) }

    /// Sends one command and reads its reply.
    /// - Throws: on a broken connection or an unreadable reply; the connection is then
    ///   unusable. An error reply from Redis is returned, not thrown.
    func command(_ arguments: [String]) throws(Failure) -> RedisReply {
        try append(arguments)
        return try reply()
    }

    /// Queues a command in the output buffer; `reply()` sends what is queued and reads
    /// one reply, so several queued commands make one round trip.
    func append(_ arguments: [String]) throws(Failure) {
        let command = Self.encode(arguments)
        let status = command.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard status == REDIS_OK else { throw Failure(description: Self.errorText(context)) }
    }

    /// Queues a command whose reply nobody waits for: the next `reply()` reads and drops
    /// it first. Nothing is written until `reply()` or `writeQueued()`.
    func queue(_ arguments: [String]) throws(Failure) {
        try append(arguments)
        unread += 1
    }

    /// Sends a command now without waiting for its reply (see `queue`): a request that
    /// ends need not wait a round trip to give its slot back, and the reply is usually
    /// in the socket's buffer by the next command.
    func send(_ arguments: [String]) throws(Failure) {
        try queue(arguments)
        try writeQueued()
    }

    /// Writes everything queued, in one go where the socket takes it.
    func writeQueued() throws(Failure) {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw Failure(description: Self.errorText(context)) }
        }
    }

    /// Replies of `queue` and `send` not read yet.
    private var unread = 0

    func reply() throws(Failure) -> RedisReply {
        while unread > 0 {
            _ = try readReply()
            unread -= 1
        }
        return try readReply()
    }

    private func readReply() throws(Failure) -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            throw Failure(description: Self.errorText(context))
        }
        defer { freeReplyObject(raw) }
        guard let reply = RedisReply.copy(UnsafePointer(raw.assumingMemoryBound(to: redisReply.self))) else {
            throw Failure(description: "unreadable reply")
        }
        return reply
    }

    private func expectOK(_ arguments: [String], what: String) throws(Failure) {
        let reply = try command(arguments)
        guard reply == .status("OK") else {
            throw Failure(description: "\(what) refused: \(reply.errorMessage ?? "unexpected reply")")
        }
    }

    /// `arguments` in Redis's wire format (RESP: an array of bulk strings), built in one
    /// buffer rather than by hiredis from an array of C strings.
    static func encode(_ arguments: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(arguments.reduce(16) { $0 + $1.utf8.count + 16 })
        func line(_ marker: UInt8, _ count: Int) {
            bytes.append(marker)
            bytes.append(contentsOf: String(count).utf8)
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
        line(UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            line(UInt8(ascii: "$"), argument.utf8.count)
            bytes.append(contentsOf: argument.utf8)
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
        return bytes
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        var errstr = context.pointee.errstr
        let text = withUnsafeBytes(of: &errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "connection failed" : text
    }

    private static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
