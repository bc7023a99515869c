import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Masks the configured upstream secrets in what an upstream sends back.
///
/// Providers echo a rejected key in error messages and headers (LiteLLM #24902, catalogue
/// SEC-04); relayed as is, the operator's key would reach the client, who must only ever
/// know the gateway key. Each occurrence is replaced by a mask of the same length, so a
/// relayed `Content-Length` stays true and nothing else in the answer changes.
///
/// Built once per config from `GatewayConfig.secrets`.
package struct SecretRedactor: Sendable {
    /// Shorter values are not treated as secrets: masking them would mangle ordinary text.
    static let minimumLength = 8

    /// Longest first, so a secret containing another is masked whole.
    let secrets: [[UInt8]]

    package init(secrets: some Sequence<String>) {
        self.secrets = Set(secrets.map { Array($0.utf8) }.filter { $0.count >= Self.minimumLength })
            .sorted { $0.count > $1.count }
    }

    var isEmpty: Bool { secrets.isEmpty }

    /// `[REDACTED]` padded or cut to `length` bytes.
    static func mask(length: Int) -> [UInt8] {
        let word = Array("[REDACTED]".utf8)
        return length >= word.count ? word + Array(repeating: UInt8(ascii: "*"), count: length - word.count) : Array(word.prefix(length))
    }

    /// Header values with every secret masked.
    package func redact(_ headers: HTTPHeaders) -> HTTPHeaders {
        guard !isEmpty else { return headers }
        return HTTPHeaders(
            headers.map { field in
                var bytes = Array(field.value.utf8)
                return mask(in: &bytes) ? HTTPHeaders.Field(name: field.name, value: String(decoding: bytes, as: UTF8.self)) : field
            })
    }

    /// Masks every occurrence in place. - Returns: whether anything was masked.
    @discardableResult
    func mask(in bytes: inout [UInt8]) -> Bool {
        var masked = false
        for secret in secrets {
            var start = 0
            while let found = Self.find(secret, in: bytes, from: start) {
                bytes.replaceSubrange(found..<found + secret.count, with: Self.mask(length: secret.count))
                start = found + secret.count
                masked = true
            }
        }
        return masked
    }

    /// The first index of `needle` in `haystack` at or after `start`: memchr on the first
    /// byte, then a compare, so a body without the secret costs little more than a scan.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count - start >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                var index = start
                let last = hay.count - pin.count
                while index <= last {
                    guard let hit = memchr(hay.baseAddress! + index, Int32(first), last - index + 1) else { return nil }
                    index = hay.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(hay.baseAddress! + index, pin.baseAddress!, pin.count) == 0 { return index }
                    index += 1
                }
                return nil
            }
        }
    }

    /// Redaction of a body that arrives in chunks: a secret split across two chunks is
    /// masked too. Only bytes that could still begin a secret are held back, so an event
    /// stream's events (which end in a blank line, never part of a secret) are not delayed.
    package struct Stream {
        let redactor: SecretRedactor
        private var held: [UInt8] = []

        package init(_ redactor: SecretRedactor) { self.redactor = redactor }

        /// The bytes that can go to the client now.
        package mutating func feed(_ data: Data) -> Data {
            guard !redactor.isEmpty else { return data }
            var bytes = held + Array(data)
            redactor.mask(in: &bytes)
            let keep = heldBack(bytes)
            held = Array(bytes.suffix(keep))
            return Data(bytes.dropLast(keep))
        }

        /// What was held back, at the end of the body.
        package mutating func finish() -> Data {
            defer { held = [] }
            return Data(held)
        }

        /// The length of the longest tail of `bytes` that is the start of some secret.
        private func heldBack(_ bytes: [UInt8]) -> Int {
            var longest = 0
            for secret in redactor.secrets {
                var length = min(secret.count - 1, bytes.count)
                while length > longest {
                    if bytes.suffix(length).elementsEqual(secret.prefix(length)) {
                        longest = length
                        break
                    }
                    length -= 1
                }
            }
            return longest
        }
    }
}
