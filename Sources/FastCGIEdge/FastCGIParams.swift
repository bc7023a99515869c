import Foundation
import GatewayCore

/// The FastCGI params of one request, read from libfcgi's `envp` array.
///
/// Public so that the fuzz targets in `Fuzz/` can feed it hostile params directly.
public struct FastCGIParams {
    /// The `NAME=value` pairs in the order nginx sent them, duplicates included: from a
    /// request's `envp`, those the gateway reads (`HTTP_*` and `read`); from a stream, all.
    public let pairs: [(name: String, value: String)]

    /// The params other than `HTTP_*` that a request is built from, with their `=`.
    private static let read: [[UInt8]] = ["REQUEST_METHOD", "REQUEST_URI", "REQUEST_ID", "REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH"]
        .map { Array("\($0)=".utf8) }
    private static let headerPrefix = Array("HTTP_".utf8)

    public init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        // Declared with the labels `pairs` has: an unlabelled array would be converted
        // element by element, a dynamic cast per param.
        var pairs: [(name: String, value: String)] = []
        pairs.reserveCapacity(32)
        var cursor = envp
        while let entry = cursor?.pointee {
            let bytes = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
            // The rest (QUERY_STRING, SERVER_NAME, ...) is never looked at: not decoded.
            if Self.isRead(bytes), let pair = Self.split(bytes) { pairs.append(pair) }
            cursor = cursor?.advanced(by: 1)
        }
        self.pairs = pairs
    }

    private static func isRead(_ entry: UnsafeRawBufferPointer) -> Bool {
        func starts(with prefix: [UInt8]) -> Bool {
            entry.count >= prefix.count && prefix.withUnsafeBytes { memcmp(entry.baseAddress!, $0.baseAddress!, prefix.count) == 0 }
        }
        return starts(with: headerPrefix) || read.contains(where: starts)
    }

    public init(pairs: [(name: String, value: String)]) { self.pairs = pairs }

    /// `NAME=value` at the first `=` byte. A param name never holds `=` (nginx writes
    /// names it chose, `HTTP_*` from header names, which are tokens), so the first `=`
    /// byte is the separator whatever the value holds; a search by `Character` would skip
    /// an `=` that a combining mark in the value joins into one grapheme, and take part
    /// of the value for the name.
    static func split(_ bytes: UnsafeRawBufferPointer) -> (name: String, value: String)? {
        guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        return (
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<eq]), as: UTF8.self),
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(eq + 1)...]), as: UTF8.self)
        )
    }

    /// Decodes a PARAMS stream (FastCGI 1.0 §3.4: each length is one byte below 128,
    /// else four with the high bit set). Stops at the first pair that does not fit.
    init(stream bytes: [UInt8]) {
        var pairs: [(name: String, value: String)] = []
        var index = 0
        func length() -> Int? {
            guard index < bytes.count else { return nil }
            if bytes[index] < 0x80 {
                index += 1
                return Int(bytes[index - 1])
            }
            guard index + 4 <= bytes.count else { return nil }
            let value = bytes[index..<index + 4].reduce(0) { $0 << 8 | Int($1) } & 0x7FFF_FFFF
            index += 4
            return value
        }
        while let nameLength = length(), let valueLength = length(), valueLength <= bytes.count - index,
            nameLength <= bytes.count - index - valueLength
        {
            let name = String(decoding: bytes[index..<index + nameLength], as: UTF8.self)
            let value = String(decoding: bytes[index + nameLength..<index + nameLength + valueLength], as: UTF8.self)
            pairs.append((name, value))
            index += nameLength + valueLength
        }
        self.pairs = pairs
    }

    public func first(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// `CONTENT_LENGTH`, empty on GET (docs/ARCHITECTURE.md, "nginx: `CONTENT_LENGTH` is empty on GET").
    public var contentLength: Int? { first("CONTENT_LENGTH").flatMap { Int($0) } }

    public func gatewayRequest() -> GatewayRequest {
        var headers = HTTPHeaders()
        for (name, value) in pairs where name.hasPrefix("HTTP_") {
            switch name {
            // The snippet blanks HTTP_PROXY (httpoxy); a Proxy header is never used.
            case "HTTP_PROXY": continue
            // Framing: the body is read whole, its length is what was read.
            case "HTTP_CONTENT_LENGTH": continue
            default: headers.append(Self.headerName(fromParam: name), value)
            }
        }
        // nginx sends the client's Content-Type both as HTTP_CONTENT_TYPE and as
        // CONTENT_TYPE; other FastCGI front ends may send only the latter.
        if !headers.contains("content-type"), let type = first("CONTENT_TYPE"), !type.isEmpty {
            headers.append("content-type", type)
        }
        return GatewayRequest(
            method: first("REQUEST_METHOD") ?? "GET",
            requestURI: first("REQUEST_URI") ?? "/",
            headers: headers,
            requestID: first("REQUEST_ID").flatMap { $0.isEmpty ? nil : $0 },
            remoteAddress: first("REMOTE_ADDR")
        )
    }

    /// `HTTP_X_PASS_ANTHROPIC_BETA` → `x-pass-anthropic-beta`. nginx upper-cases names
    /// and turns `-` into `_`; the original case is lost, and names containing `_`
    /// are dropped by nginx by default, so the mapping back is unambiguous.
    /// Written straight into the new string: mapping into an array first cost about as
    /// much again as the rest of reading a header.
    static func headerName(fromParam param: String) -> String {
        var param = param
        return param.withUTF8 { bytes in
            guard bytes.count > 5 else { return "" }
            let name = UnsafeBufferPointer(rebasing: bytes[5...])
            return String(unsafeUninitializedCapacity: name.count) { out in
                for (index, byte) in name.enumerated() {
                    switch byte {
                    case UInt8(ascii: "_"): out[index] = UInt8(ascii: "-")
                    case 0x41...0x5A: out[index] = byte | 0x20
                    default: out[index] = byte
                    }
                }
                return name.count
            }
        }
    }
}
