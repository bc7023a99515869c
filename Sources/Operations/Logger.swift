import Foundation
import GatewayCore

/// Writes one line per event to stderr, as text or JSON lines.
///
/// Callers pass only gateway-chosen fields (routes, statuses, durations, ids):
/// never a header value, a body or a config value.
public final class Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["debug", "info", "warning", "error"][rawValue] }
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name }) else { return nil }
            self = level
        }
    }

    public enum Format: String, Sendable { case text, json }

    public let level: Level
    public let format: Format
    /// Names the process in every line when several share one stderr (`supervisor`, `worker-2`).
    public let process: String?
    private let lock = Locked(())

    public init(level: Level = .info, format: Format = .text, process: String? = nil) {
        self.level = level
        self.format = format
        self.process = process
    }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, message, fields) }

    public func log(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, String>) {
        log(level, message, fields.map { ($0.key, $0.value) })
    }

    public func log(_ level: Level, _ message: String, _ fields: [(String, String)]) {
        guard level >= self.level else { return }
        var line: [UInt8] = []
        // A request line with its usage fields runs to about 350 bytes.
        line.reserveCapacity(512)
        switch format {
        case .text:
            // Bytes appended into one reserved buffer: appending to a String checks its
            // capacity, uniqueness and flags on every piece, about a thousand instructions
            // per field of a request line.
            line.append(contentsOf: Self.timestamp().utf8)
            line.append(0x20)
            line.append(contentsOf: level.name.utf8)
            if let process {
                line.append(contentsOf: " [".utf8)
                line.append(contentsOf: process.utf8)
                line.append(UInt8(ascii: "]"))
            }
            line.append(0x20)
            line.append(contentsOf: message.utf8)
            for (key, value) in fields {
                line.append(0x20)
                line.append(contentsOf: key.utf8)
                line.append(UInt8(ascii: "="))
                Self.appendQuotedIfNeeded(value, to: &line)
            }
            line.append(0x0A)
        case .json:
            var object: [String: String] = ["ts": Self.timestamp(), "level": level.name, "msg": message]
            if let process { object["process"] = process }
            for (key, value) in fields { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line.append(contentsOf: data)
            line.append(0x0A)
        }
        lock.withLock { _ in
            line.withUnsafeBytes { Self.writeToStandardError($0) }
        }
    }

    /// The whole line in one `write(2)` where the pipe takes it (lines from several
    /// processes sharing one stderr then never interleave); the rest after a short write
    /// or an interruption. A line that cannot be written is dropped: logging never stops
    /// a request. `FileHandle` would cost a dynamic cast and an object per line, and stop
    /// the process on a write error.
    private static func writeToStandardError(_ bytes: UnsafeRawBufferPointer) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let written = write(STDERR_FILENO, next, left)
            if written > 0 {
                next += written
                left -= written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    /// Now, in UTC to the millisecond: `2026-12-07T06:50:32.328Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(seconds: now.tv_sec, nanoseconds: now.tv_nsec)
    }

    /// ISO 8601 as `Date.ISO8601FormatStyle` writes it with fractional seconds (the
    /// milliseconds cut, not rounded), built from the calendar fields by hand: the format
    /// style cost about 4,700 instructions a line, a tenth of a proxied request's log line
    /// and more than the rest of it.
    static func timestamp(seconds: Int, nanoseconds: Int) -> String {
        var time = seconds
        var fields = tm()
        gmtime_r(&time, &fields)
        let millisecond = max(0, min(999, nanoseconds / 1_000_000))
        return String(unsafeUninitializedCapacity: 24) { out in
            var at = 0
            func put(_ value: Int, digits: Int) {
                var value = value
                for offset in stride(from: digits - 1, through: 0, by: -1) {
                    out[at + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                at += digits
            }
            func put(_ byte: Unicode.Scalar) {
                out[at] = UInt8(ascii: byte)
                at += 1
            }
            put(Int(fields.tm_year) + 1900, digits: 4)
            put("-")
            put(Int(fields.tm_mon) + 1, digits: 2)
            put("-")
            put(Int(fields.tm_mday), digits: 2)
            put("T")
            put(Int(fields.tm_hour), digits: 2)
            put(":")
            put(Int(fields.tm_min), digits: 2)
            put(":")
            put(Int(fields.tm_sec), digits: 2)
            put(".")
            put(millisecond, digits: 3)
            put("Z")
            return at
        }
    }

    static func quotedIfNeeded(_ value: String) -> String {
        var bytes: [UInt8] = []
        appendQuotedIfNeeded(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `value` as a field's value: as it is, or in quotes (inner quotes escaped) when it
    /// is empty or holds a space, a quote or `=`. By bytes, not Characters: a space, quote
    /// or `=` that a combining mark joins into one grapheme still splits a field for
    /// whoever parses the line.
    static func appendQuotedIfNeeded(_ value: String, to line: inout [UInt8]) {
        let utf8 = value.utf8
        // A native string's bytes are contiguous: checked and copied as one buffer.
        let plain = utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.isEmpty, !bytes.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else { return false }
            line.append(contentsOf: bytes)
            return true
        }
        if plain == true { return }
        guard value.isEmpty || utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else {
            line.append(contentsOf: utf8)
            return
        }
        line.append(0x22)
        for byte in utf8 {
            if byte == 0x22 { line.append(0x5C) }
            line.append(byte)
        }
        line.append(0x22)
    }
}
