import Foundation

/// Documents that lie whole in one piece, read by descent.
///
/// Nearly every JSON body and every SSE event reaches the scanner in one piece. Read by
/// descent, where the grammar lives in the code and the position in a local, such a
/// document costs a fraction of the byte-by-byte reading, which keeps its place in
/// `state` between any two bytes. This reading only ever takes a document it reads to
/// its end, and takes it exactly as the byte-by-byte one would: the same name stack, the
/// same paths, the same captures. Anything else (a document that runs past the piece, an
/// escaped member or model name, a syntax error) it hands back untouched, with what it
/// captured undone, and the byte-by-byte reading reads that document from its start and
/// is the one that decides what is malformed.
extension UsageJSONScanner {
    /// Reads the whole documents at the start of `bytes`; returns where the byte-by-byte
    /// reading takes over (`bytes.count` when nothing is left). Called between documents.
    mutating func readWholeDocuments(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var index = 0
        while true {
            index = Self.skipWhitespace(bytes, from: index)
            guard index < bytes.count else { return index }
            let start = index
            let before = captures
            let opensDocument = bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "[")
            guard opensDocument, wholeValue(bytes, &index) else {
                captures = before
                stack.removeAll()
                return start
            }
            documents += 1
        }
    }

    /// One value from its first byte (`index` is inside `bytes`); false, with `index`
    /// anywhere, when it is not read to its end here.
    private mutating func wholeValue(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        switch bytes[index] {
        case UInt8(ascii: "{"): return wholeObject(bytes, &index)
        // No path goes through an array below the top.
        case UInt8(ascii: "["): return stack.isEmpty ? wholeArray(bytes, &index) : Self.skipValue(bytes, &index, depth: stack.count)
        case Self.quote:
            if currentField() == .model { return wholeModel(bytes, &index) }
            return Self.skipString(bytes, &index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return wholeNumber(bytes, &index)
        case UInt8(ascii: "t"): return Self.skipLiteral("true", bytes, &index)
        case UInt8(ascii: "f"): return Self.skipLiteral("false", bytes, &index)
        case UInt8(ascii: "n"): return Self.skipLiteral("null", bytes, &index)
        default: return false
        }
    }

    private mutating func wholeObject(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        // Objects nest here only along usage paths, a few deep; the check keeps the inline
        // stack's bounds whatever the paths.
        guard stack.count < Self.maxDepth else { return false }
        stack.push(.other)
        let depth = stack.count - (stack.first == .element ? 2 : 1)
        // Below the deepest path no name matters: none is looked up.
        let namesMatter = depth < paths.maxDepth
        index = Self.skipWhitespace(bytes, from: index + 1)
        guard index < bytes.count else { return false }
        if bytes[index] == UInt8(ascii: "}") {
            index += 1
            _ = stack.pop()
            return true
        }
        while true {
            guard bytes[index] == Self.quote else { return false }
            let end = JSONStringRun.end(in: bytes, from: index + 1, stoppingAtNonASCII: false)
            // A name with an escape is decoded by the byte-by-byte reading.
            guard end < bytes.count, bytes[end] == Self.quote else { return false }
            let name = namesMatter ? UsageName.named(UnsafeBufferPointer(rebasing: bytes[index + 1..<end])) : .other
            index = Self.skipWhitespace(bytes, from: end + 1)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
            index = Self.skipWhitespace(bytes, from: index + 1)
            guard index < bytes.count else { return false }
            if paths.mayLeadSomewhere(name, atDepth: depth) {
                stack.last = name
                guard wholeValue(bytes, &index) else { return false }
            } else {
                // Most of a body: read for its syntax alone.
                guard Self.skipValue(bytes, &index, depth: stack.count) else { return false }
            }
            guard let closed = Self.separator(bytes, &index, closing: UInt8(ascii: "}")) else { return false }
            if closed {
                _ = stack.pop()
                return true
            }
        }
    }

    /// A top-level array, whose elements are documents of their own (Gemini's stream).
    private mutating func wholeArray(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        stack.push(.element)
        index = Self.skipWhitespace(bytes, from: index + 1)
        guard index < bytes.count else { return false }
        var closed = bytes[index] == UInt8(ascii: "]")
        if closed { index += 1 }
        while !closed {
            guard wholeValue(bytes, &index), let end = Self.separator(bytes, &index, closing: UInt8(ascii: "]")) else {
                return false
            }
            closed = end
        }
        _ = stack.pop()
        return true
    }

    /// After a member or an element: `,` and whitespace up to the next one (`false`), or
    /// the closing bracket, passed (`true`); `nil` for anything else or the piece's end.
    @inline(__always)
    private static func separator(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, closing: UInt8) -> Bool? {
        index = skipWhitespace(bytes, from: index)
        guard index < bytes.count else { return nil }
        if bytes[index] == closing {
            index += 1
            return true
        }
        guard bytes[index] == UInt8(ascii: ",") else { return nil }
        index = skipWhitespace(bytes, from: index + 1)
        return index < bytes.count ? false : nil
    }

    /// A string at a model's path; one with an escape is decoded by the byte-by-byte reading.
    private mutating func wholeModel(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        let end = JSONStringRun.end(in: bytes, from: index + 1, stoppingAtNonASCII: false)
        guard end < bytes.count, bytes[end] == Self.quote else { return false }
        let name = UnsafeBufferPointer(rebasing: bytes[index + 1..<end])
        if !name.isEmpty, name.count <= Self.maxModelBytes { takeModel(name) }
        index = end + 1
        return true
    }

    /// A number at a path that may be a usage path, taken as a count if it is one.
    private mutating func wholeNumber(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        guard let number = Self.number(bytes, from: index) else { return false }
        takeCount(currentField(), number.value, negative: number.negative, fractional: number.fractional, tooBig: number.tooBig)
        index = number.end
        return true
    }

    /// A number (RFC 8259 §6) from `start`, with what `takeCount` asks of it. It must end
    /// inside the piece: only the byte after it says it has ended.
    @inline(__always)
    private static func number(
        _ bytes: UnsafeBufferPointer<UInt8>, from start: Int
    ) -> (end: Int, value: UInt64, negative: Bool, fractional: Bool, tooBig: Bool)? {
        var at = start
        let negative = bytes[at] == UInt8(ascii: "-")
        if negative { at += 1 }
        var value: UInt64 = 0
        var tooBig = false
        var fractional = false
        guard at < bytes.count, isDigit(bytes[at]) else { return nil }
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
        } else {
            while at < bytes.count, isDigit(bytes[at]) {
                // Past 2^53 the value is no count; it stops growing there.
                if !tooBig {
                    value = value * 10 + UInt64(bytes[at] - UInt8(ascii: "0"))
                    tooBig = value > 1 << 53
                }
                at += 1
            }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard at < bytes.count, isDigit(bytes[at]) else { return nil }
            while at < bytes.count, isDigit(bytes[at]) {
                if bytes[at] != UInt8(ascii: "0") { fractional = true }
                at += 1
            }
        }
        if at < bytes.count, bytes[at] | 0x20 == UInt8(ascii: "e") {
            fractional = true
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard at < bytes.count, isDigit(bytes[at]) else { return nil }
            while at < bytes.count, isDigit(bytes[at]) { at += 1 }
        }
        guard at < bytes.count else { return nil }
        return (at, value, negative, fractional, tooBig)
    }

    /// A value no usage path enters, of any kind: its syntax checked as the byte-by-byte
    /// reading checks it, nothing looked up or kept. `depth` is the number of objects and
    /// arrays open around it, held to the same cap.
    private static func skipValue(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, depth: Int) -> Bool {
        switch bytes[index] {
        case quote: return skipString(bytes, &index)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = bytes[index] == UInt8(ascii: "{")
            guard depth < maxDepth else { return false }
            index = skipWhitespace(bytes, from: index + 1)
            guard index < bytes.count else { return false }
            if bytes[index] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                index += 1
                return true
            }
            while true {
                if isObject {
                    guard bytes[index] == quote, skipString(bytes, &index) else { return false }
                    index = skipWhitespace(bytes, from: index)
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index = skipWhitespace(bytes, from: index + 1)
                    guard index < bytes.count else { return false }
                }
                guard skipValue(bytes, &index, depth: depth + 1),
                    let closed = separator(bytes, &index, closing: isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
                else { return false }
                if closed { return true }
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let number = number(bytes, from: index) else { return false }
            index = number.end
            return true
        case UInt8(ascii: "t"): return skipLiteral("true", bytes, &index)
        case UInt8(ascii: "f"): return skipLiteral("false", bytes, &index)
        case UInt8(ascii: "n"): return skipLiteral("null", bytes, &index)
        default: return false
        }
    }

    /// A string no path asks for, checked as the byte-by-byte reading checks it and kept
    /// nowhere.
    private static func skipString(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        var at = index + 1
        while true {
            at = JSONStringRun.end(in: bytes, from: at, stoppingAtNonASCII: false)
            // A string is never a document: something must follow it in the piece.
            guard at + 1 < bytes.count else { return false }
            switch bytes[at] {
            case quote:
                index = at + 1
                return true
            case backslash:
                switch bytes[at + 1] {
                case quote, backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                    UInt8(ascii: "r"), UInt8(ascii: "t"):
                    at += 2
                case UInt8(ascii: "u"):
                    guard at + 6 <= bytes.count, (at + 2..<at + 6).allSatisfy({ isHexDigit(bytes[$0]) }) else { return false }
                    at += 6
                default: return false
                }
            default: return false  // a control byte
            }
        }
    }

    private static func skipLiteral(_ literal: StaticString, _ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard index + length <= bytes.count, memcmp(bytes.baseAddress! + index, literal.utf8Start, length) == 0 else { return false }
        index += length
        return true
    }

    @inline(__always)
    private static func skipWhitespace(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return index
            }
        }
        return index
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 6
    }
}
