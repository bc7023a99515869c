import Foundation
import GatewayCore

/// Turns the header lines libcurl hands over one by one into response heads.
///
/// libcurl reports every head it reads: interim ones (100 Continue, 103 Early Hints),
/// the final one, and after the body any chunked trailer fields. Only the final head is
/// relayed; interim heads are dropped (FastCGI cannot carry them, and relayed, their
/// status would replace the real one: UP-07) and trailers are ignored (FastCGI has no
/// place for them). A line libcurl passes on but HTTP does not allow is a protocol error.
struct ResponseHeadParser {
    enum Event: Equatable {
        /// Nothing to do yet.
        case none
        /// The final head is complete.
        case head(status: Int, headers: HTTPHeaders)
    }

    enum Failure: Error, Equatable {
        case tooLarge
        case malformedStatusLine
        case malformedField
        case notUTF8
    }

    /// All head lines together, interim heads included: libcurl allows 300 KB, far more
    /// than the relay would pass on (`ResponseHeaderFilter`), so a hostile upstream is
    /// stopped here before it makes the gateway hold it.
    static let maxHeadBytes = 64 * 1024

    private var status: Int?
    private var headBytes = 0
    private var headers = HTTPHeaders()
    private var finalHeadSeen = false

    /// - Parameter line: one line as received, CRLF (or LF) included.
    package mutating func feed(_ line: UnsafeRawBufferPointer) throws(Failure) -> Event {
        if finalHeadSeen { return .none }  // trailer fields
        headBytes += line.count
        guard headBytes <= Self.maxHeadBytes else { throw .tooLarge }
        var end = line.count
        if end > 0, line[end - 1] == 0x0A { end -= 1 }
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])

        if bytes.isEmpty {
            guard let status else { throw .malformedStatusLine }
            self.status = nil
            if (100..<200).contains(status) {
                headers = HTTPHeaders()
                return .none
            }
            finalHeadSeen = true
            return .head(status: status, headers: headers)
        }
        guard status != nil else {
            status = try Self.statusCode(of: bytes)
            headers = HTTPHeaders()
            return .none
        }
        let field = try Self.field(of: bytes)
        headers.append(field.name, field.value)
        return .none
    }

    /// `HTTP/1.1 200 OK` or `HTTP/2 200`: the three-digit code after the version.
    static func statusCode(of line: UnsafeRawBufferPointer) throws(Failure) -> Int {
        guard line.starts(with: "HTTP/".utf8), let space = line.firstIndex(of: 0x20) else { throw .malformedStatusLine }
        let digits = line[(space + 1)...].prefix { $0 != 0x20 }
        guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .malformedStatusLine }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        guard code >= 100 else { throw .malformedStatusLine }
        return code
    }

    /// `Name: value`, the value without its surrounding whitespace. Obsolete line
    /// folding (a line starting with whitespace) is refused, as RFC 9112 §5.2 allows.
    static func field(of line: UnsafeRawBufferPointer) throws(Failure) -> HTTPHeaders.Field {
        guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { throw .malformedField }
        guard line[..<colon].allSatisfy(HTTPSyntax.isTokenCharacter) else { throw .malformedField }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        guard let name = UTF8Text.string(UnsafeRawBufferPointer(rebasing: line[..<colon])) else { throw .malformedField }
        guard let text = UTF8Text.string(UnsafeRawBufferPointer(rebasing: value)) else { throw .notUTF8 }
        return HTTPHeaders.Field(name: name, value: text)
    }
}
