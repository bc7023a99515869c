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
        let line: String
        switch format {
        case .text:
            // Appended piece by piece into one reserved buffer: an interpolation per field
            // allocated and copied a string each.
            var text = Self.timestamp()
            // A request line with its usage fields runs to about 350 bytes: growing the
            // buffer halfway would copy it.
            text.reserveCapacity(512)
            text += " "
            text += level.name
            if let process {
                text += " ["
                text += process
                text += "]"
            }
            text += " "
            text += message
            for (key, value) in fields {
                text += " "
                text += key
                text += "="
                text += Self.quotedIfNeeded(value)
            }
            text += "\n"
            line = text
        case .json:
            var object: [String: String] = ["ts": Self.timestamp(), "level": level.name, "msg": message]
            if let process { object["process"] = process }
            for (key, value) in fields { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self) + "\n"
        }
        lock.withLock { _ in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func quotedIfNeeded(_ value: String) -> String {
        // By bytes, not Characters: a space, quote or `=` that a combining mark joins into
        // one grapheme still splits a field for whoever parses the line.
        guard value.isEmpty || value.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
