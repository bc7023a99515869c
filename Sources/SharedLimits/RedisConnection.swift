internal import CHiredis
import Foundation
import GatewayCore

/// One hiredis connection: connected, authenticated and on its database, with short
/// timeouts so a hung server cannot hold a request long. Used by one thread at a time
/// (`RedisConnectionPool` hands it out); freed with `redisFree` when it goes.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// SHA-1s of the loaded scripts, by script.
    var loaded: [RedisScript: String] = [:]

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
        let status = Self.withArgv(arguments) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        guard status == REDIS_OK else { throw Failure(description: Self.errorText(context)) }
    }

    /// Sends a command now without waiting for its reply, which the next `reply()` reads
    /// and drops first: a request that ends need not wait a round trip to give its slot
    /// back, and the reply is usually in the socket's buffer by the next command.
    func send(_ arguments: [String]) throws(Failure) {
        try append(arguments)
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw Failure(description: Self.errorText(context)) }
        }
        unread += 1
    }

    /// Replies of `send` not read yet.
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

    /// Runs `body` with C views of `arguments` (argc, argv, and their lengths), all in one
    /// buffer: one allocation per command rather than one per argument.
    private static func withArgv(
        _ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32
    ) -> Int32 {
        var bytes: [CChar] = []
        bytes.reserveCapacity(arguments.reduce(arguments.count) { $0 + $1.utf8.count })
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            lengths.append(argument.utf8.count)
            bytes.append(contentsOf: argument.utf8.map { CChar(bitPattern: $0) })
            bytes.append(0)
        }
        return bytes.withUnsafeBufferPointer { buffer in
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(buffer.baseAddress! + offset)
                offset += length + 1
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argv.baseAddress!, $0.baseAddress!) }
            }
        }
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
