internal import CHiredis

/// A reply from Redis, copied out of hiredis's `redisReply` tree so the C memory can be
/// freed at once.
enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int)
    case string(String)
    case array([RedisReply])
    case null

    /// The most array elements read from one reply; a larger count is taken as a broken
    /// reply rather than trusted. The gateway's own replies hold a handful.
    static let maxElements = 4096

    /// Copies `pointer`'s tree; `nil` for a null pointer or a reply this type cannot
    /// represent (an unknown type, a string without bytes, an oversized array).
    static func copy(_ pointer: UnsafePointer<redisReply>?, depth: Int = 0) -> RedisReply? {
        guard let pointer, depth < 4 else { return nil }
        let reply = pointer.pointee
        switch reply.type {
        case REDIS_REPLY_INTEGER:
            return .integer(Int(reply.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            guard let bytes = reply.str, reply.len <= Int.max else { return nil }
            let text = String(
                decoding: UnsafeRawBufferPointer(start: bytes, count: Int(reply.len)), as: UTF8.self)
            switch reply.type {
            case REDIS_REPLY_STATUS: return .status(text)
            case REDIS_REPLY_ERROR: return .error(text)
            default: return .string(text)
            }
        case REDIS_REPLY_ARRAY:
            guard reply.elements <= maxElements else { return nil }
            guard reply.elements > 0 else { return .array([]) }
            guard let elements = reply.element else { return nil }
            var items: [RedisReply] = []
            items.reserveCapacity(Int(reply.elements))
            for index in 0..<Int(reply.elements) {
                guard let item = copy(UnsafePointer(elements[index]), depth: depth + 1) else { return nil }
                items.append(item)
            }
            return .array(items)
        default:
            return nil
        }
    }

    /// The integer, or a string holding one (Lua numbers may come back either way).
    var integerValue: Int? {
        switch self {
        case .integer(let value): value
        case .string(let text): Int(text)
        default: nil
        }
    }

    var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
