internal import CFCGI
import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// One accepted FastCGI request: reads its params and body, writes its response.
///
/// Used by the one worker thread that accepted the request, hence `@unchecked Sendable`.
final class FastCGIConnection: ResponseWriter, RequestBodySource, @unchecked Sendable {
    private let request: UnsafeMutablePointer<FCGX_Request>
    private var broken = false
    private var maxBodyBytes = 0
    /// Still true while nginx may be sending body bytes nobody has read.
    private var bodyUnread = true

    init(request: UnsafeMutablePointer<FCGX_Request>) {
        self.request = request
    }

    struct ReadError: Error {
        let error: GatewayError
        let requestID: String
    }

    // MARK: reading

    /// Builds the request from every param (duplicates included). The body stays unread
    /// until the gateway asks for it (`readBody`), after routing and auth.
    func readRequest(maxBodyBytes: Int) -> Result<GatewayRequest, ReadError> {
        let params = FastCGIParams(envp: request.pointee.envp)
        var gatewayRequest = params.gatewayRequest()
        let requestID = gatewayRequest.requestID ?? UUID().uuidString.asciiLowercased
        gatewayRequest.requestID = requestID
        self.maxBodyBytes = maxBodyBytes
        if let declared = params.contentLength, declared > maxBodyBytes {
            drainBody()
            return .failure(ReadError(error: Self.tooLarge, requestID: requestID))
        }
        gatewayRequest.bodySource = self
        return .success(gatewayRequest)
    }

    private static let tooLarge = GatewayError(status: 413, message: "Request body too large.")

    func readBody() throws(GatewayError) -> Data {
        bodyUnread = false
        var body = Data()
        var tooLarge = false
        // Uninitialised: FCGX_GetStr overwrites what it reports, and zeroing 64 KiB per
        // request was the largest single cost of a small proxied request.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Self.chunkBytes) { buffer in
            while true {
                let count = Int(FCGX_GetStr(buffer.baseAddress, Int32(buffer.count), request.pointee.in))
                guard count > 0 else { break }
                if body.count + count > maxBodyBytes {
                    tooLarge = true
                    break
                }
                body.append(UnsafeBufferPointer(rebasing: buffer[..<count]))
            }
        }
        if tooLarge {
            drainBody()
            throw Self.tooLarge
        }
        // The stream stopped without its closing empty STDIN record (connection lost):
        // half a body must never be forwarded as if it were whole.
        guard FCGX_GetError(request.pointee.in) == 0 else {
            throw GatewayError.badRequest("Request body ended early.")
        }
        return body
    }

    /// Reads and discards the rest of the body so nginx can finish sending it and
    /// read our answer instead of failing on a reset connection.
    private func drainBody() {
        bodyUnread = false
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Self.chunkBytes) { buffer in
            while FCGX_GetStr(buffer.baseAddress, Int32(buffer.count), request.pointee.in) > 0 {}
        }
    }

    /// What one FCGX_GetStr call may read.
    private static let chunkBytes = 64 * 1024

    // MARK: writing

    func writeHead(status: Int, headers: HTTPHeaders) -> Bool {
        // A refused request's body is discarded here, in bounded memory, before answering.
        if bodyUnread { drainBody() }
        return put(CGIResponse.head(status: status, headers: headers))
    }

    func writeBody(_ data: Data, flush shouldFlush: Bool) -> Bool {
        guard put(data) else { return false }
        return shouldFlush ? flush() : true
    }

    func abort() {
        guard !broken else { return }
        broken = true
        // What was already relayed goes out first.
        _ = FCGX_FFlush(request.pointee.out)
        // Then an invalid record (protocol version 0) and the connection closes. A clean
        // end of the stream, even without FCGI_END_REQUEST, lets nginx 1.22 finish the
        // client's response as if it were complete (a chunked one gets its final chunk);
        // a protocol error makes nginx fail the request and drop the client connection,
        // so the client sees the truncation at once.
        let invalidRecord: [UInt8] = [0, 6, 0, 1, 0, 0, 0, 0]
        _ = invalidRecord.withUnsafeBytes { send(request.pointee.ipcFd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(request.pointee.ipcFd, Int32(SHUT_RDWR))
    }

    func clientHasGone() -> Bool {
        guard !broken else { return true }
        // nginx closes the FastCGI connection when its client goes away. The body was read
        // completely, so what can be readable now is that end, or a record nginx never
        // sends mid-request: FCGI_ABORT_REQUEST for this request ends it; anything else (a
        // client sending its next request, or a second request id, early) waits until this
        // request is answered, and is then read as the next request of a kept connection.
        // Only the first waiting record is looked at: an abort queued behind another record
        // is seen once that record has been read.
        let fd = request.pointee.ipcFd
        var pfd = pollfd(fd: fd, events: Int16(POLLIN) | pollReadHangUp, revents: 0)
        guard poll(&pfd, 1, 0) > 0 else { return false }
        if pfd.revents & (pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)) != 0 { return true }
        var header = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let peeked = withUnsafeMutableBytes(of: &header) {
            recv(fd, $0.baseAddress, FastCGIRecord.headerSize, Int32(MSG_PEEK | MSG_DONTWAIT))
        }
        if peeked == 0 { return true }  // the end of the connection
        if peeked < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
        guard peeked == FastCGIRecord.headerSize else { return false }  // the rest of a header is still to come
        let recordID = Int32(header.2) << 8 | Int32(header.3)
        return header.1 == FastCGIRecord.Kind.abortRequest.rawValue && recordID == request.pointee.requestId
    }

    /// The connection itself: with the body read, nginx makes it readable only by closing
    /// it; what else a client may send early is told apart by `clientHasGone`.
    var departureDescriptor: Int32? {
        let fd = request.pointee.ipcFd
        return broken || fd < 0 ? nil : fd
    }

    private func put(_ data: Data) -> Bool {
        guard !broken else { return false }
        if data.isEmpty { return true }
        let written = data.withUnsafeBytes { raw in
            FCGX_PutStr(raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count), request.pointee.out)
        }
        if written != Int32(data.count) { broken = true }
        return !broken
    }

    func flush() -> Bool {
        guard !broken else { return false }
        if FCGX_FFlush(request.pointee.out) != 0 { broken = true }
        return !broken
    }
}
