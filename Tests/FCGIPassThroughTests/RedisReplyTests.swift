import CHiredis
import Testing

@testable import SharedLimits

/// Copying hiredis's reply tree: every type read, nothing trusted that could point
/// outside it (a missing element vector, an element count past the limit, unknown types).
@Suite struct RedisReplyTests {
    /// Runs `body` with a reply of `type` whose string is `text`.
    func withReply<Result>(
        type: Int32, integer: Int64 = 0, text: String? = nil, _ body: (UnsafePointer<redisReply>) -> Result
    ) -> Result {
        var bytes = Array((text ?? "").utf8).map { CChar(bitPattern: $0) }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            var reply = redisReply()
            reply.type = type
            reply.integer = integer
            reply.len = text == nil ? 0 : buffer.count
            reply.str = text == nil ? nil : buffer.baseAddress
            return withUnsafePointer(to: &reply) { body($0) }
        }
    }

    @Test func scalarsAreCopied() {
        #expect(withReply(type: REDIS_REPLY_INTEGER, integer: -42) { RedisReply.copy($0) } == .integer(-42))
        #expect(withReply(type: REDIS_REPLY_NIL) { RedisReply.copy($0) } == .null)
        #expect(withReply(type: REDIS_REPLY_STRING, text: "abc") { RedisReply.copy($0) } == .string("abc"))
        #expect(withReply(type: REDIS_REPLY_STATUS, text: "OK") { RedisReply.copy($0) } == .status("OK"))
        #expect(withReply(type: REDIS_REPLY_ERROR, text: "NOSCRIPT x") { RedisReply.copy($0) } == .error("NOSCRIPT x"))
        #expect(withReply(type: REDIS_REPLY_STRING, text: "") { RedisReply.copy($0) } == .string(""))
    }

    @Test func brokenRepliesAreRejected() {
        #expect(RedisReply.copy(nil) == nil)
        #expect(withReply(type: 99) { RedisReply.copy($0) } == nil)
        #expect(withReply(type: REDIS_REPLY_STRING) { RedisReply.copy($0) } == nil)  // no bytes
        var array = redisReply()
        array.type = REDIS_REPLY_ARRAY
        array.elements = 2
        array.element = nil  // a count without a vector
        #expect(withUnsafePointer(to: &array) { RedisReply.copy($0) } == nil)
        array.elements = RedisReply.maxElements + 1
        #expect(withUnsafePointer(to: &array) { RedisReply.copy($0) } == nil)
        array.elements = 0
        #expect(withUnsafePointer(to: &array) { RedisReply.copy($0) } == .array([]))
    }

    @Test func arraysAreCopiedElementByElement() {
        var first = redisReply()
        first.type = REDIS_REPLY_INTEGER
        first.integer = 7
        var second = redisReply()
        second.type = REDIS_REPLY_NIL
        withUnsafeMutablePointer(to: &first) { one in
            withUnsafeMutablePointer(to: &second) { two in
                var elements: [UnsafeMutablePointer<redisReply>?] = [one, two]
                elements.withUnsafeMutableBufferPointer { vector in
                    var array = redisReply()
                    array.type = REDIS_REPLY_ARRAY
                    array.elements = 2
                    array.element = vector.baseAddress
                    #expect(withUnsafePointer(to: &array) { RedisReply.copy($0) } == .array([.integer(7), .null]))
                    vector[1] = nil  // a hole in the vector
                    #expect(withUnsafePointer(to: &array) { RedisReply.copy($0) } == nil)
                }
            }
        }
    }
}
