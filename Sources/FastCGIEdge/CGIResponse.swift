import Foundation
import GatewayCore

/// A response as a FastCGI responder writes it to its STDOUT stream: a CGI head
/// (`Status:` first, which sets nginx's status line), a blank line, the body.
enum CGIResponse {
    static func head(status: Int, headers: HTTPHeaders) -> Data {
        var head = "Status: \(status)"
        if let reason = HTTPStatus.reason(status) { head += " \(reason)" }
        head += "\r\n"
        for field in headers {
            head += "\(field.name): \(field.value)\r\n"
        }
        head += "\r\n"
        return Data(head.utf8)
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

        func abort() {}
        func clientHasGone() -> Bool { false }
    }
}
