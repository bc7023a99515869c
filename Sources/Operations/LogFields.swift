import Foundation

/// The fields of one log line, added in order (`Logger.log(_:_:_:)`). In text, each goes
/// into the line as ` key=value` the moment it is added; in JSON, they are kept as pairs
/// for the object the line becomes.
public struct LogFields: ~Copyable {
    private let json: Bool
    var line: LineBuffer
    private(set) var pairs: [(String, String)] = []

    init(json: Bool, capacity: Int) {
        self.json = json
        line = LineBuffer(capacity: capacity)
    }

    public mutating func add(_ key: StaticString, _ value: String) {
        guard !json else { return pairs.append((key.description, value)) }
        line.appendKey(UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        line.appendQuotedIfNeeded(value)
    }

    public mutating func add(_ key: String, _ value: String) {
        guard !json else { return pairs.append((key, value)) }
        line.appendKey(key)
        line.appendQuotedIfNeeded(value)
    }

    /// An integer, written digit by digit into the line.
    public mutating func add(_ key: StaticString, _ value: Int) {
        guard !json else { return pairs.append((key.description, String(value))) }
        line.appendKey(UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        line.appendDecimal(value)
    }

    /// A number as `String(value)` writes it (the shortest text that reads back as
    /// `value`), so the line agrees with every other place the value is shown.
    public mutating func add(_ key: StaticString, _ value: Double) {
        guard !json else { return pairs.append((key.description, String(value))) }
        line.appendKey(UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        line.appendShortest(value)
    }
}

/// A growing byte buffer of its own: `[UInt8].append(contentsOf:)` costs about a hundred
/// instructions a call through its generic paths, a copy here a bounds check and a
/// `memcpy`. A line is a few hundred bytes, built and written once.
struct LineBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Room for `more` bytes after the ones written. Inlined, as are the appends: a line
    /// is built from a dozen short pieces, and a call for each cost more than its copy.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if count + more > capacity { grow(toHold: more) }
    }

    @inline(never)
    private mutating func grow(toHold more: Int) {
        let grown = max(capacity * 2, count + more)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        // A native string's bytes are contiguous; a bridged or small one goes byte by byte.
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in text.utf8 { append(byte) }
        }
    }

    /// ` key=`.
    @inline(__always)
    mutating func appendKey(_ key: UnsafeRawBufferPointer) {
        reserve(key.count + 2)
        base[count] = 0x20
        if let source = key.baseAddress { UnsafeMutableRawPointer(base + count + 1).copyMemory(from: source, byteCount: key.count) }
        base[count + 1 + key.count] = UInt8(ascii: "=")
        count += key.count + 2
    }

    mutating func appendKey(_ key: String) {
        append(0x20)
        append(key)
        append(UInt8(ascii: "="))
    }

    mutating func appendDecimal(_ value: Int) {
        // 20 digits and a sign hold any Int.
        reserve(21)
        // A single digit (a zero count, most often) needs no division.
        if value >= 0 && value < 10 {
            base[count] = UInt8(ascii: "0") + UInt8(value)
            count += 1
            return
        }
        var magnitude = value.magnitude
        var digits = 0
        repeat {
            digits += 1
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        magnitude = value.magnitude
        for offset in stride(from: digits - 1, through: 0, by: -1) {
            base[count + offset] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        }
        count += digits
    }

    /// `String(value)`'s text. Most values logged (prices and costs) are whole millionths
    /// between 1e-4 and 1e9, which `String` writes in plain decimals: those are written
    /// here, digit by digit, for a tenth of what the general algorithm costs.
    ///
    /// When `n / 1e6` (correctly rounded) is `value`, the decimal n/10⁶ reads back as
    /// `value`; below 1e9 adjacent doubles are at most 2⁻²³ apart, far less than 1e-6, so
    /// no other decimal of at most six places does, and a shorter text would be one. It
    /// is the shortest, and unique: `String` writes the same digits.
    mutating func appendShortest(_ value: Double) {
        let rounded = (value * 1e6).rounded()
        guard value >= 1e-4, value < 1e9, rounded / 1e6 == value else { return append(String(value)) }
        let millionths = Int(rounded)
        let whole = millionths / 1_000_000
        var fraction = millionths % 1_000_000
        appendDecimal(whole)
        append(UInt8(ascii: "."))
        guard fraction != 0 else { return append(UInt8(ascii: "0")) }
        var places = 6
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        reserve(places)
        for offset in stride(from: places - 1, through: 0, by: -1) {
            base[count + offset] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        count += places
    }

    /// Now, in UTC to the millisecond: `2026-12-07T06:50:32.328Z`.
    mutating func appendTimestamp() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        reserve(Logger.timestampLength)
        count += Logger.writeTimestamp(
            seconds: now.tv_sec, nanoseconds: now.tv_nsec,
            into: UnsafeMutableBufferPointer(start: base + count, count: Logger.timestampLength))
    }

    /// `value` as a field's value: as it is, or in quotes (inner quotes escaped) when it
    /// is empty or holds a space, a quote or `=`. By bytes, not Characters: a space, quote
    /// or `=` that a combining mark joins into one grapheme still splits a field for
    /// whoever parses the line.
    mutating func appendQuotedIfNeeded(_ value: String) {
        let utf8 = value.utf8
        let plain = utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.isEmpty, !bytes.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else { return false }
            append(UnsafeRawBufferPointer(bytes))
            return true
        }
        if plain == true { return }
        guard value.isEmpty || utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else {
            for byte in utf8 { append(byte) }
            return
        }
        append(0x22)
        for byte in utf8 {
            if byte == 0x22 { append(0x5C) }
            append(byte)
        }
        append(0x22)
    }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        body(UnsafeRawBufferPointer(start: base, count: count))
    }
}
