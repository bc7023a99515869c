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
        log(level, message) { line in
            for (key, value) in fields { line.add(key, value) }
        }
    }

    public func log(_ level: Level, _ message: String, _ fields: [(String, String)]) {
        log(level, message) { line in
            for (key, value) in fields { line.add(key, value) }
        }
    }

    /// One line whose fields `fill` adds in order. In text, each is written into the line
    /// as it is added, integers without a String between.
    public func log(_ level: Level, _ message: String, _ fill: (inout LogFields) -> Void) {
        guard level >= self.level else { return }
        // A request line with its usage fields runs to about 350 bytes.
        var fields = LogFields(json: format == .json, capacity: 512)
        if format == .text {
            fields.line.appendTimestamp()
            fields.line.append(0x20)
            fields.line.append(level.name)
            if let process {
                fields.line.append(" [")
                fields.line.append(process)
                fields.line.append(UInt8(ascii: "]"))
            }
            fields.line.append(0x20)
            fields.line.append(message)
        }
        fill(&fields)
        if format == .json {
            var object: [String: String] = ["ts": Self.timestamp(), "level": level.name, "msg": message]
            if let process { object["process"] = process }
            for (key, value) in fields.pairs { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            data.withUnsafeBytes { fields.line.append($0) }
        }
        fields.line.append(0x0A)
        lock.withLock { _ in
            fields.line.withBytes { Self.writeToStandardError($0) }
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
        String(unsafeUninitializedCapacity: timestampLength) { writeTimestamp(seconds: seconds, nanoseconds: nanoseconds, into: $0) }
    }

    static let timestampLength = 24

    /// Writes the timestamp into the first `timestampLength` bytes of `out`.
    static func writeTimestamp(seconds: Int, nanoseconds: Int, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var time = seconds
        var fields = tm()
        gmtime_r(&time, &fields)
        let millisecond = max(0, min(999, nanoseconds / 1_000_000))
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

    static func quotedIfNeeded(_ value: String) -> String {
        var line = LineBuffer(capacity: 16)
        line.appendQuotedIfNeeded(value)
        return line.withBytes { String(decoding: $0, as: UTF8.self) }
    }
}
