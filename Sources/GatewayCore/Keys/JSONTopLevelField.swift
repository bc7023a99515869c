import Foundation

/// Reads one string member of a JSON object's top level without building the document:
/// the `model` of a request body that may be megabytes of messages.
///
/// Strict where a loose reading could be turned against a check: the body must be one
/// object; a member named twice is reported as ambiguous (Python's `json` keeps the
/// last, many other readers the first, so a check on either could be bypassed); a
/// name or value with escapes is decoded as JSON decodes it.
enum JSONTopLevelField {
    enum Outcome: Equatable {
        case found(String)
        /// The object has no such member.
        case absent
        /// The member is there but not a string, or named more than once, or the body is
        /// not a well-formed JSON object.
        case unreadable
    }

    /// Nesting deeper than this is refused rather than walked (hostile bodies).
    static let maxDepth = 512

    static func string(named name: StaticString, in body: some Collection<UInt8>) -> Outcome {
        let wanted = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        if let outcome = body.withContiguousStorageIfAvailable({ string(named: wanted, in: $0) }) { return outcome }
        return Array(body).withUnsafeBufferPointer { string(named: wanted, in: $0) }
    }

    private static func string(named wanted: UnsafeBufferPointer<UInt8>, in bytes: UnsafeBufferPointer<UInt8>) -> Outcome {
        var found: String?
        var count = 0
        var scanner = Scanner(bytes: bytes)
        let ok = scanner.scanObject(naming: wanted) { isWanted, scanner in
            guard isWanted else { return scanner.skipValue() }
            count += 1
            guard let value = scanner.scanStringValue() else { return false }
            found = value
            return true
        }
        guard ok, count <= 1 else { return .unreadable }
        guard count == 1 else { return .absent }
        return found.map(Outcome.found) ?? .unreadable
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0
        /// Whether the last string `skipString` passed held an escape.
        var skippedEscape = false

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// The whole body is one object; `member` is called at each top-level value with
        /// whether its decoded name is `wanted`, and must consume the value.
        mutating func scanObject(naming wanted: UnsafeBufferPointer<UInt8>, _ member: (Bool, inout Scanner) -> Bool) -> Bool {
            guard consume(UInt8(ascii: "{")) else { return false }
            if consume(UInt8(ascii: "}")) { return trailingIsEmpty() }
            repeat {
                skipWhitespace()
                guard let isWanted = scanName(equalTo: wanted), consume(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard member(isWanted, &self) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}")) && trailingIsEmpty()
        }

        mutating func trailingIsEmpty() -> Bool {
            skipWhitespace()
            return index == bytes.count
        }

        /// Reads a member name and tells whether it decodes to `wanted`. A name without
        /// escapes (nearly all) is compared where it lies; one with escapes is decoded.
        mutating func scanName(equalTo wanted: UnsafeBufferPointer<UInt8>) -> Bool? {
            let start = index
            guard skipString() else { return nil }
            if !skippedEscape {
                let name = UnsafeBufferPointer(rebasing: bytes[start + 1..<index - 1])
                return name.count == wanted.count && (name.isEmpty || memcmp(name.baseAddress!, wanted.baseAddress!, name.count) == 0)
            }
            index = start
            return scanString().map { $0.elementsEqual(wanted) }
        }

        /// A string at `index` (after whitespace), decoded. One without escapes (nearly
        /// every model name) is made from its bytes where they lie, in one allocation.
        mutating func scanStringValue() -> String? {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let end = JSONStringRun.end(in: bytes, from: index + 1, stoppingAtNonASCII: false)
            guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else {
                return scanString().flatMap { String(validating: $0, as: UTF8.self) }
            }
            // Invalid UTF-8 would be replaced when turned into a String: refuse it.
            guard let value = UTF8Text.string(UnsafeBufferPointer(rebasing: bytes[index + 1..<end])) else { return nil }
            index = end + 1
            return value
        }

        /// A string at `index` (after whitespace), decoded to UTF-8 bytes.
        mutating func scanString() -> [UInt8]? {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            var out: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    // Invalid UTF-8 would be replaced when turned into a String: refuse it.
                    guard String(validating: out, as: UTF8.self) != nil else { return nil }
                    return out
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard consumeLiteral("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return nil
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: return nil
                    }
                case 0x00..<0x20: return nil
                default: out.append(byte)
                }
            }
            return nil
        }

        /// Checks a string at `index` as `scanString` does, without keeping it: the bulk of
        /// a body (messages, documents) is read once and copied nowhere. Escapes are checked
        /// by the same rules; the raw bytes are checked as UTF-8 only when one is not ASCII
        /// (an escape decodes to a valid scalar or is refused).
        mutating func skipString() -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return false }
            index += 1
            let start = index
            var ascii = true
            skippedEscape = false
            while index < bytes.count {
                index = JSONStringRun.end(in: bytes, from: index, stoppingAtNonASCII: ascii)
                guard index < bytes.count else { break }
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return ascii || String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]), as: UTF8.self) != nil
                case UInt8(ascii: "\\"):
                    skippedEscape = true
                    guard index < bytes.count else { return false }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        guard let scalar = hex4() else { return false }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard consumeLiteral("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return false }
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return false
                        }
                    default: return false
                    }
                case 0x00..<0x20: return false
                case 0x80...: ascii = false
                default: break
                }
            }
            return false
        }

        private mutating func consumeLiteral(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
            index += count
            return true
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        /// Skips one value of any kind, checking its syntax.
        mutating func skipValue() -> Bool {
            skipWhitespace()
            guard index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"):
                guard depth < JSONTopLevelField.maxDepth else { return false }
                depth += 1
                defer { depth -= 1 }
                index += 1
                if consume(UInt8(ascii: "}")) { return true }
                repeat {
                    skipWhitespace()
                    guard skipString(), consume(UInt8(ascii: ":")), skipValue() else { return false }
                } while consume(UInt8(ascii: ","))
                return consume(UInt8(ascii: "}"))
            case UInt8(ascii: "["):
                guard depth < JSONTopLevelField.maxDepth else { return false }
                depth += 1
                defer { depth -= 1 }
                index += 1
                if consume(UInt8(ascii: "]")) { return true }
                repeat {
                    guard skipValue() else { return false }
                } while consume(UInt8(ascii: ","))
                return consume(UInt8(ascii: "]"))
            case UInt8(ascii: "t"): return consumeLiteral("true")
            case UInt8(ascii: "f"): return consumeLiteral("false")
            case UInt8(ascii: "n"): return consumeLiteral("null")
            default: return skipNumber()
            }
        }

        /// RFC 8259 §6 number grammar.
        private mutating func skipNumber() -> Bool {
            func digits() -> Int {
                let start = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                return index - start
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                return false
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return false }
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return false }
            }
            return true
        }
    }
}
