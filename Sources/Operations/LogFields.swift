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

    /// Room for `more` bytes after the ones written.
    private mutating func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        let grown = max(capacity * 2, count + more)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

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
    mutating func appendKey(_ key: UnsafeRawBufferPointer) {
        append(0x20)
        append(key)
        append(UInt8(ascii: "="))
    }

    mutating func appendKey(_ key: String) {
        append(0x20)
        append(key)
        append(UInt8(ascii: "="))
    }

    mutating func appendDecimal(_ value: Int) {
        // 20 digits and a sign hold any Int.
        reserve(21)
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
