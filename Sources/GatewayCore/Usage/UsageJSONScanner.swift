/// Reads usage out of JSON as it arrives, in pieces of any size, without building the
/// document: a push tokenizer that keeps the stack of member names down to the current
/// value and captures only the numbers (and the model name) at the paths a format names
/// (`UsagePaths`). Everything else is checked for syntax and dropped, strings without
/// being copied, so a response of megabytes of text costs its bytes once and a few
/// hundred bytes of state.
///
/// One or more top-level objects or arrays, one after another (a JSON body, a Cohere v1
/// newline-delimited stream, or Gemini's streamed array, whose elements count as tops of
/// their own). Malformed JSON, nesting deeper than `maxDepth`, or a top-level scalar fail
/// the reading for good: `failed`.
///
/// Two readings share this state: a document that lies whole in one piece is read by
/// descent (`UsageJSONScanner+WholeDocuments.swift`), anything else byte by byte here.
struct UsageJSONScanner {
    static let maxDepth = 64
    /// A model name longer than this is not a model name; it is not kept.
    static let maxModelBytes = 256

    private enum State {
        /// Between top-level values: whitespace, `{` or `[`.
        case top
        /// After `:`, or `,` in an array.
        case value
        /// After `[`: a value or `]`.
        case valueOrEnd
        /// After `{`: a member name or `}`.
        case nameOrEnd
        /// After `,` in an object.
        case name
        case colon
        /// After a value inside an object or array: `,` or the closing bracket.
        case afterValue
        case string
        case escape
        case unicode
        case number
        case literal
    }

    /// `ignoredName`: a member name no usage path can go through (inside an inner array,
    /// or deeper than any path), so it is not read at all.
    private enum StringRole {
        case name, ignoredName, model, skipped

        var keepsText: Bool { self == .name || self == .model }
    }

    private enum NumberPhase { case sign, zero, integer, fractionStart, fraction, exponentStart, exponentSign, exponent }

    // `paths`, `captures`, `documents` and `stack` (and `namesMatter`, `currentField`,
    // `takeModel`, `takeCount`) are shared with the reading of whole documents
    // (`UsageJSONScanner+WholeDocuments.swift`); the rest is the byte-by-byte reading's own.
    let paths: UsagePaths
    var captures = UsageCaptures()
    private(set) var failed = false
    /// Top-level values read to their end.
    var documents = 0

    private var state = State.top
    /// One entry per open object (the current member's name) or array (`element`).
    var stack = UsageNameStack()
    /// Arrays open below the top level: no usage path goes through one.
    private var innerArrays = 0
    /// The number or model name the current scalar fills, if its path is a usage path.
    private var field: UsageField?

    private var role = StringRole.skipped
    /// The member name or model name being read; never more than `maxModelBytes`.
    private var text = UsageTextBuffer()
    private var textUnusable = false
    private var unicodeValue: UInt32 = 0
    private var hexLeft = 0

    private var numberPhase = NumberPhase.sign
    private var numberValue: UInt64 = 0
    private var numberNegative = false
    private var numberFractional = false
    private var numberTooBig = false

    /// The bytes of `true`, `false` or `null` still to come, the next one lowest.
    private var literalRest: UInt32 = 0
    private var literalLeft = 0

    /// The last model name read, kept so a stream naming it in every event is decoded once.
    private var lastModel: String?

    /// Holds no buffer of its own on the heap: the stack and the text are inline, so a
    /// meter costs one allocation, whatever it reads.
    init(paths: UsagePaths) {
        self.paths = paths
    }

    /// The reading ended at a boundary between top-level values, after at least one.
    var isAtDocumentEnd: Bool { !failed && state == .top && documents > 0 }

    /// Bytes of state held (for the bounded-memory check): all of it inline but the last
    /// model name.
    var bufferedBytes: Int { MemoryLayout<Self>.size + (lastModel?.utf8.count ?? 0) }

    /// Starts over for a new document (the next SSE event), keeping the buffers.
    mutating func reset() {
        captures.clear()
        failed = false
        documents = 0
        state = .top
        stack.removeAll()
        innerArrays = 0
        field = nil
        text.removeAll()
    }

    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) {
        var index = 0
        while index < bytes.count && !failed {
            // Between documents, the ones that lie whole in the rest of this piece (nearly
            // every JSON body and SSE event) are read by descent; the rest goes byte by byte
            // until a document ends.
            if state == .top { index += readWholeDocuments(UnsafeBufferPointer(rebasing: bytes[index...])) }
            if index < bytes.count { feedPieces(bytes, from: &index) }
        }
    }

    /// The byte-by-byte reading: resumes wherever the last piece left off, and is the one
    /// that decides what is malformed. Stops at the end of `bytes`, or between documents.
    private mutating func feedPieces(_ bytes: UnsafeBufferPointer<UInt8>, from index: inout Int) {
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch state {
            case .string:
                // Runs of plain bytes, the bulk of a response, are skipped (or kept) at once.
                let end = JSONStringRun.end(in: bytes, from: index, stoppingAtNonASCII: false)
                if role == .name, text.isEmpty, !textUnusable, end < count, bytes[end] == Self.quote {
                    // A whole member name in this piece, without escapes: matched where it
                    // lies, not collected first. (An empty text that is unusable follows an
                    // escape that kept nothing: the name began before this run.)
                    stack.last = UsageName.named(UnsafeBufferPointer(rebasing: bytes[index..<end]))
                    index = end + 1
                    // The colon nearly always follows at once: taken here, not in a turn of its own.
                    if index < count, bytes[index] == UInt8(ascii: ":") {
                        index += 1
                        state = .value
                    } else {
                        state = .colon
                    }
                    break
                }
                if role.keepsText && end > index { keep(UnsafeBufferPointer(rebasing: bytes[index..<end])) }
                index = end
                guard index < count else { return }
                let next = bytes[index]
                index += 1
                switch next {
                case Self.quote: endString()
                case Self.backslash: state = .escape
                default: return fail()  // a control byte, which JSON strings may not hold
                }
            case .escape:
                index += 1
                state = .string
                switch byte {
                case Self.quote, Self.backslash, UInt8(ascii: "/"): keep(byte)
                case UInt8(ascii: "b"): keep(0x08)
                case UInt8(ascii: "f"): keep(0x0C)
                case UInt8(ascii: "n"): keep(0x0A)
                case UInt8(ascii: "r"): keep(0x0D)
                case UInt8(ascii: "t"): keep(0x09)
                case UInt8(ascii: "u"):
                    state = .unicode
                    unicodeValue = 0
                    hexLeft = 4
                default: return fail()
                }
            case .unicode:
                index += 1
                guard let digit = hexDigit(byte) else { return fail() }
                unicodeValue = unicodeValue << 4 | digit
                hexLeft -= 1
                if hexLeft == 0 {
                    state = .string
                    if role.keepsText {
                        // A surrogate pair never names a model or a usage member: drop the text.
                        if let scalar = Unicode.Scalar(unicodeValue) {
                            for unit in String(Character(scalar)).utf8 { keep(unit) }
                        } else {
                            textUnusable = true
                        }
                    }
                }
            case .number:
                // The number's bytes in one turn: most are values no path asks for.
                index += 1
                guard number(byte) else {
                    index -= 1
                    endNumber()
                    break
                }
                while index < count, number(bytes[index]) { index += 1 }
                if index < count { endNumber() }
            case .literal:
                index += 1
                guard byte == UInt8(truncatingIfNeeded: literalRest) else { return fail() }
                literalRest >>= 8
                literalLeft -= 1
                if literalLeft == 0 { endValue() }
            case .top:
                index += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: "{"), UInt8(ascii: "["): open(byte)
                default: return fail()
                }
            case .value, .valueOrEnd:
                index += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: "]") where state == .valueOrEnd: close()
                default: beginValue(byte)
                }
            case .nameOrEnd, .name:
                index += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: "}") where state == .nameOrEnd: close()
                case Self.quote: beginString(namesMatter ? .name : .ignoredName)
                default: return fail()
                }
            case .colon:
                index += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: ":"): state = .value
                default: return fail()
                }
            case .afterValue:
                index += 1
                let inArray = stack.last == .element
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D: break
                case UInt8(ascii: ","):
                    if inArray {
                        state = .value
                    } else if index < count, bytes[index] == Self.quote {
                        // `,"name"`: the member's name starts here.
                        index += 1
                        beginString(namesMatter ? .name : .ignoredName)
                    } else {
                        state = .name
                    }
                case UInt8(ascii: "]") where inArray: close()
                case UInt8(ascii: "}") where !inArray: close()
                default: return fail()
                }
            }
            if failed || state == .top { return }
        }
    }

    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")

    private mutating func fail() {
        failed = true
    }

    private mutating func open(_ bracket: UInt8) {
        guard stack.count < Self.maxDepth else { return fail() }
        if bracket == UInt8(ascii: "{") {
            stack.push(.other)
            state = .nameOrEnd
        } else {
            if !stack.isEmpty { innerArrays += 1 }
            stack.push(.element)
            state = .valueOrEnd
        }
    }

    private mutating func close() {
        let closed = stack.pop()
        if closed == .element && !stack.isEmpty { innerArrays -= 1 }
        endValue()
    }

    private mutating func endValue() {
        field = nil
        if stack.isEmpty {
            state = .top
            documents += 1
        } else {
            state = .afterValue
        }
    }

    /// Whether the name of a member of the object just opened can be on a usage path:
    /// outside inner arrays, and no deeper than the longest path.
    @inline(__always)
    var namesMatter: Bool {
        innerArrays == 0 && stack.count - (stack.first == .element ? 1 : 0) <= paths.maxDepth
    }

    /// The path of the value about to start, relative to its document: an element of a
    /// top-level array is a document of its own (Gemini's streamed array).
    @inline(__always)
    func currentField() -> UsageField? {
        guard innerArrays == 0 else { return nil }
        return stack.field(in: paths, from: stack.first == .element ? 1 : 0)
    }

    private mutating func beginValue(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["): open(byte)
        case Self.quote:
            field = currentField()
            beginString(field == .model ? .model : .skipped)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            field = currentField()
            state = .number
            numberValue = 0
            numberNegative = byte == UInt8(ascii: "-")
            numberFractional = false
            numberTooBig = false
            switch byte {
            case UInt8(ascii: "-"): numberPhase = .sign
            case UInt8(ascii: "0"): numberPhase = .zero
            default:
                numberPhase = .integer
                numberValue = UInt64(byte - UInt8(ascii: "0"))
            }
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            state = .literal
            switch byte {
            case UInt8(ascii: "t"): (literalRest, literalLeft) = (0x65_75_72, 3)  // "rue"
            case UInt8(ascii: "f"): (literalRest, literalLeft) = (0x65_73_6C_61, 4)  // "alse"
            default: (literalRest, literalLeft) = (0x6C_6C_75, 3)  // "ull"
            }
        default: fail()
        }
    }

    private mutating func beginString(_ role: StringRole) {
        self.role = role
        state = .string
        if role.keepsText {
            text.removeAll()
            textUnusable = false
        }
    }

    private mutating func keep(_ run: UnsafeBufferPointer<UInt8>) {
        guard !textUnusable else { return }
        let limit = role == .name ? UsageName.maxLength : Self.maxModelBytes
        if text.count + run.count <= limit {
            text.append(run)
        } else {
            textUnusable = true
        }
    }

    private mutating func keep(_ byte: UInt8) {
        guard role.keepsText, !textUnusable else { return }
        let limit = role == .name ? UsageName.maxLength : Self.maxModelBytes
        if text.count < limit {
            text.append(byte)
        } else {
            textUnusable = true
        }
    }

    private mutating func endString() {
        switch role {
        case .name:
            stack.last = textUnusable ? .other : text.withBytes { UsageName.named($0) }
            state = .colon
        case .ignoredName:
            stack.last = .other
            state = .colon
        case .model:
            if !textUnusable, !text.isEmpty { text.withBytes { takeModel($0) } }
            endValue()
        case .skipped:
            endValue()
        }
    }

    /// Takes one more byte of a number (RFC 8259 §6); false when the byte is not part of it.
    private mutating func number(_ byte: UInt8) -> Bool {
        let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        let isExponent = byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        switch numberPhase {
        case .sign:
            guard isDigit else { return false }
            numberPhase = byte == UInt8(ascii: "0") ? .zero : .integer
            numberValue = UInt64(byte - UInt8(ascii: "0"))
        case .zero, .integer, .fraction:
            if isDigit && numberPhase == .integer {
                // Past 2^53 a count is no longer exact as many readers hold it: unreadable.
                if !numberTooBig {
                    numberValue = numberValue * 10 + UInt64(byte - UInt8(ascii: "0"))
                    numberTooBig = numberValue > 1 << 53
                }
            } else if isDigit && numberPhase == .fraction {
                if byte != UInt8(ascii: "0") { numberFractional = true }
            } else if byte == UInt8(ascii: ".") && numberPhase != .fraction {
                numberPhase = .fractionStart
            } else if isExponent {
                // 1.2e1 is 12, but no provider writes counts so: unreadable.
                numberFractional = true
                numberPhase = .exponentStart
            } else {
                return false
            }
        case .fractionStart:
            guard isDigit else { return false }
            if byte != UInt8(ascii: "0") { numberFractional = true }
            numberPhase = .fraction
        case .exponentStart:
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") {
                numberPhase = .exponentSign
            } else {
                guard isDigit else { return false }
                numberPhase = .exponent
            }
        case .exponentSign:
            guard isDigit else { return false }
            numberPhase = .exponent
        case .exponent:
            return isDigit
        }
        return true
    }

    /// The byte after a number ends it; the byte itself is read next as what follows.
    private mutating func endNumber() {
        switch numberPhase {
        case .sign, .fractionStart, .exponentStart, .exponentSign: return fail()
        case .zero, .integer, .fraction, .exponent: break
        }
        takeCount(field, numberValue, negative: numberNegative, fractional: numberFractional, tooBig: numberTooBig)
        endValue()
    }

    /// A model name read to its end (not empty, not too long): the one the captures report.
    mutating func takeModel(_ name: UnsafeBufferPointer<UInt8>) {
        // A stream names its model in every event: the string is made once.
        if !(lastModel.map { $0.utf8.elementsEqual(name) } ?? false) { lastModel = UTF8Text.string(name) }
        if let lastModel { captures.model = lastModel }
    }

    /// A number read to its end at `field`'s path, if it is on one. A count is a whole
    /// number from 0 to 2^53, written `12` or `12.0`; anything else (negative, fractional,
    /// huge) is left unread rather than guessed at.
    @inline(__always)
    mutating func takeCount(_ field: UsageField?, _ value: UInt64, negative: Bool, fractional: Bool, tooBig: Bool) {
        if let field, field != .model, !fractional, !tooBig, !negative || value == 0 { captures[field] = Int(value) }
    }

    private func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
