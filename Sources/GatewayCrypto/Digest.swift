internal import CCrypto

/// SHA-256 from OpenSSL's libcrypto: keys are compared and looked up as fixed-length
/// digests, and stored as hex digests the way LiteLLM's `hash_token` stores them.
package enum SHA256 {
    /// Length of a digest in bytes.
    package static let byteCount = 32

    package static func hash(_ message: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        if message.withContiguousStorageIfAvailable({ compute($0, into: &digest) }) == nil {
            Array(message).withUnsafeBufferPointer { compute($0, into: &digest) }
        }
        return digest
    }

    private static func compute(_ bytes: UnsafeBufferPointer<UInt8>, into digest: inout [UInt8]) {
        digest.withUnsafeMutableBufferPointer { out in ccrypto_sha256(bytes.baseAddress, bytes.count, out.baseAddress) }
    }

    /// The digest as 64 lower-case hex digits.
    package static func hex(_ message: some Collection<UInt8>) -> String {
        Hex.encode(hash(message))
    }
}

/// HMAC-SHA256 (RFC 2104), for providers that sign requests.
package enum HMACSHA256 {
    package static func authenticate(_ message: some Collection<UInt8>, key: some Collection<UInt8>) -> [UInt8] {
        let key = Array(key)
        let message = Array(message)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let done = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &digest, &length) != nil
            }
        }
        precondition(done, "HMAC-SHA256 failed")
        return Array(digest.prefix(Int(length)))
    }
}

/// Byte comparisons whose timing does not depend on the bytes.
package enum ConstantTime {
    /// True when `a` and `b` are equal. Only the lengths may show in the timing; compare
    /// digests, never raw keys, so that lengths are fixed too.
    package static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) == 0 } }
    }
}

/// Bytes from OpenSSL's CSPRNG, for keys the gateway generates.
package enum SecureRandom {
    package static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        precondition(RAND_bytes(&bytes, Int32(count)) == 1, "RAND_bytes failed")
        return bytes
    }
}

package enum Hex {
    package static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
