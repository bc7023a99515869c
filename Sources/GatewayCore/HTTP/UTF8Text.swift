import Foundation

/// Strings made from bytes that must be valid UTF-8 (names, values and model names read
/// from clients and upstreams), refused rather than repaired when they are not.
///
/// `String(validating:as:)` looks up generic metadata on every call, about a thousand
/// instructions for a short name; nearly every such text is ASCII, which is checked here
/// eight bytes at a time and needs no further validation.
package enum UTF8Text {
    /// The bytes as a `String`, or `nil` when they are not valid UTF-8.
    package static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Whether two strings hold the same UTF-8 bytes, compared in place: `==` compares by
    /// canonical equivalence, several hundred instructions for two short names that are
    /// not the same object.
    package static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        let inPlace = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
        if let inPlace, let inPlace { return inPlace }
        return a.utf8.elementsEqual(b.utf8)
    }

    package static func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        string(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Whether every byte is below 0x80.
    package static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        var high: UInt64 = 0
        while index + 8 <= count {
            high |= UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            index += 8
        }
        var tail: UInt8 = 0
        while index < count {
            tail |= base[index]
            index += 1
        }
        return high & 0x8080_8080_8080_8080 == 0 && tail < 0x80
    }
}
