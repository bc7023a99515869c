import Foundation
import GatewayCore

/// Reads one FastCGI request just far enough to answer it without serving it: its
/// request id, its params, and the end of its body, which is counted and discarded.
///
/// Fed whatever arrives on the connection, in pieces of any size. Reading the body to
/// its end matters: a Unix socket closed with unread bytes resets the connection, and
/// nginx would then report a 502 instead of the answer (`OverloadResponder`).
struct FastCGIRequestScanner {
    enum State: Equatable {
        case reading
        /// The body's closing empty STDIN record arrived: the request can be answered.
        case complete
        /// FCGI_ABORT_REQUEST, or bytes that are not FastCGI: nobody to answer.
        case abandoned
    }

    /// nginx's params are a few hundred bytes; beyond this they are not kept.
    static let paramsLimit = 64 * 1024

    private(set) var state = State.reading
    private(set) var requestID: UInt16?
    private(set) var bodyBytes = 0
    private var params: [UInt8] = []
    private var pending: [UInt8] = []

    var parameters: FastCGIParams { FastCGIParams(stream: params) }

    mutating func consume(_ bytes: some Collection<UInt8>) {
        guard state == .reading else { return }
        pending += bytes
        var offset = 0
        while state == .reading, pending.count - offset >= FastCGIRecord.headerSize {
            let header = FastCGIRecord.Header(pending[offset...])
            guard header.version == 1 else {
                state = .abandoned
                break
            }
            let start = offset + FastCGIRecord.headerSize
            let end = start + header.contentLength
            guard pending.count >= end + header.paddingLength else { break }
            handle(header, pending[start..<end])
            offset = end + header.paddingLength
        }
        pending.removeFirst(min(offset, pending.count))
    }

    private mutating func handle(_ header: FastCGIRecord.Header, _ content: ArraySlice<UInt8>) {
        // Request id 0: management records (FCGI_GET_VALUES), not part of the request.
        guard header.requestID != 0 else { return }
        switch FastCGIRecord.Kind(rawValue: header.type) {
        case .beginRequest:
            if requestID == nil { requestID = header.requestID }
        case .params where header.requestID == requestID:
            if params.count + content.count <= Self.paramsLimit { params += content }
        case .stdin where header.requestID == requestID:
            if content.isEmpty {
                state = .complete
            } else {
                bodyBytes += content.count
            }
        case .abortRequest where header.requestID == requestID:
            state = .abandoned
        default:
            break  // another request id (nginx never multiplexes), or a type a client does not send
        }
    }
}
