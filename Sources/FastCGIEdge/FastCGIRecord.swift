import Foundation
import GatewayCore

/// FastCGI 1.0 records, for the few places that speak the protocol without libfcgi
/// (`FastCGIRequestScanner`, `OverloadResponder`). Record layout: version, type,
/// request id (2 bytes), content length (2), padding length, reserved, content, padding.
enum FastCGIRecord {
    static let headerSize = 8
    static let maxContent = 65535

    enum Kind: UInt8 {
        case beginRequest = 1
        case abortRequest = 2
        case endRequest = 3
        case params = 4
        case stdin = 5
        case stdout = 6
    }

    struct Header: Equatable {
        var version: UInt8
        var type: UInt8
        var requestID: UInt16
        var contentLength: Int
        var paddingLength: Int

        /// Reads a header from the first 8 bytes of `bytes`.
        init(_ bytes: ArraySlice<UInt8>) {
            let b = Array(bytes.prefix(FastCGIRecord.headerSize))
            version = b[0]
            type = b[1]
            requestID = UInt16(b[2]) << 8 | UInt16(b[3])
            contentLength = Int(b[4]) << 8 | Int(b[5])
            paddingLength = Int(b[6])
        }
    }

    static func encode(_ kind: Kind, requestID: UInt16, content: some Collection<UInt8> = []) -> [UInt8] {
        precondition(content.count <= maxContent)
        let length = content.count
        return [1, kind.rawValue, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), 0, 0]
            + content
    }

    /// A complete answer: `stdout` in STDOUT records, the empty record that ends the
    /// stream, then FCGI_END_REQUEST (application status 0, FCGI_REQUEST_COMPLETE).
    static func response(requestID: UInt16, stdout: Data) -> Data {
        var out = Data()
        var offset = stdout.startIndex
        while offset < stdout.endIndex {
            let end = stdout.index(offset, offsetBy: maxContent, limitedBy: stdout.endIndex) ?? stdout.endIndex
            out += encode(.stdout, requestID: requestID, content: stdout[offset..<end])
            offset = end
        }
        out += encode(.stdout, requestID: requestID)
        out += encode(.endRequest, requestID: requestID, content: [0, 0, 0, 0, 0, 0, 0, 0])
        return out
    }
}
