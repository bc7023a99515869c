import Foundation
import GatewayCore

/// A response as a FastCGI responder writes it to its STDOUT stream: a CGI head
/// (`Status:` first, which sets nginx's status line), a blank line, the body.
enum CGIResponse {
    static func head(status: Int, headers: HTTPHeaders) -> Data {
        // Appended as bytes to an array (one copy each; `Data.append(contentsOf:)` takes a
        // sequence byte by byte): string interpolation per field was most of this cost.
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head.append(contentsOf: "Status: \(status)".utf8)
        if let reason = HTTPStatus.reason(status) {
            head.append(UInt8(ascii: " "))
            head.append(contentsOf: reason.utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        for field in headers {
            head.append(contentsOf: field.name.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: field.value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return Data(head)
    }

    /// Collects a whole response in memory, for answers written without libfcgi
    /// (`OverloadResponder`) through the same `ResponseWriter` helpers as every other.
    final class Buffer: ResponseWriter {
        private(set) var bytes = Data()

        func writeHead(status: Int, headers: HTTPHeaders) -> Bool {
            bytes += CGIResponse.head(status: status, headers: headers)
            return true
        }

        func writeBody(_ data: Data, flush: Bool) -> Bool {
            bytes += data
            return true
        }

        func flush() -> Bool { true }
        func abort() {}
        func clientHasGone() -> Bool { false }
        var departureDescriptor: Int32? { nil }
    }
}
