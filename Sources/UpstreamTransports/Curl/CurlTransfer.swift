internal import CCurl
import Foundation
import GatewayCore

/// One upstream exchange on libcurl: the easy handle, the request it sends and the
/// channel its answer goes to.
///
/// Configured on the worker thread that starts the request. From the moment it is
/// handed to the engine, only the engine thread touches it: libcurl runs the callbacks
/// there, and the engine adds, pauses, removes and frees the handle.
final class CurlTransfer: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    let channel: ResponseChannel
    private let body: Data
    private var bodySent = 0
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var parser = ResponseHeadParser()
    /// Why a callback stopped the transfer; libcurl itself reports only a write error.
    private var stopReason: UpstreamFailure?
    /// Set by the first cancel, so repeated ones do not queue more work.
    private let cancelRequested = Locked(false)

    /// Headers libcurl would add on its own. An empty `Name:` line tells it not to, so
    /// the upstream receives exactly the headers the rewriter chose.
    static let suppressedHeaders = ["Accept", "Expect", "Content-Type"]

    /// Methods that carry a body even when it is empty (`Content-Length: 0`).
    static let bodyMethods: Set<String> = ["POST", "PUT", "PATCH"]

    init?(_ request: UpstreamRequest, channel: ResponseChannel, caFile: String) {
        guard let easy = curl_easy_init() else { return nil }
        self.easy = easy
        self.channel = channel
        self.body = request.body
        configure(request, caFile: caFile)
    }

    deinit {
        curl_slist_free_all(headerList)
        curl_easy_cleanup(easy)
    }

    private func configure(_ request: UpstreamRequest, caFile: String) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_URL, request.url)
        set(CURLOPT_PRIVATE, me)
        // Threads and signals: libcurl must never raise SIGALRM in a threaded process.
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        // Redirects are relayed, never followed (docs/BEHAVIOUR.md §3); libcurl's default, stated.
        set(CURLOPT_FOLLOWLOCATION, 0)
        // A CONNECT through an egress proxy must not look like the upstream's head.
        set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        // The CA file only, never a CA directory: libcurl then keeps the parsed store in
        // the multi handle and reuses it, instead of reading the whole bundle again for
        // every new TLS connection (tens of milliseconds of CPU each).
        set(CURLOPT_CAINFO, caFile)
        _ = ccurl_easy_set_pointer(easy, CURLOPT_CAPATH, nil)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        // HTTP/1.1 even where ALPN offers HTTP/2: every stream gets its own connection
        // and its own TCP flow control, so pausing one never holds back another, and
        // production takes the path the test suite exercises.
        set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)

        _ = ccurl_easy_set_data_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderLine)
        set(CURLOPT_HEADERDATA, me)
        _ = ccurl_easy_set_data_callback(easy, CURLOPT_WRITEFUNCTION, curlBodyBytes)
        set(CURLOPT_WRITEDATA, me)
        configureMethod(request)

        var lines = request.headers.map { field in
            // "Name;" is libcurl's spelling of a header sent with an empty value.
            field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)"
        }
        for name in Self.suppressedHeaders where !request.headers.contains(name) {
            lines.append("\(name):")
        }
        for line in lines {
            headerList = curl_slist_append(headerList, line)
        }
        set(CURLOPT_HTTPHEADER, UnsafeRawPointer(headerList))
    }

    private func configureMethod(_ request: UpstreamRequest) {
        let hasBody = !request.body.isEmpty || Self.bodyMethods.contains(request.method)
        switch request.method {
        case "GET" where !hasBody:
            set(CURLOPT_HTTPGET, 1)
        case "HEAD" where !hasBody:
            set(CURLOPT_NOBODY, 1)
        default:
            if hasBody {
                // Read from memory through a callback without a seek function: libcurl
                // cannot silently send the body again on a fresh connection after a
                // kept-alive one died (UP-03: a billable call made twice); it fails instead.
                set(CURLOPT_POST, 1)
                _ = ccurl_easy_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
                let me = Unmanaged.passUnretained(self).toOpaque()
                _ = ccurl_easy_set_data_callback(easy, CURLOPT_READFUNCTION, curlRequestBytes)
                set(CURLOPT_READDATA, me)
                _ = ccurl_easy_set_seek_callback(easy, curlRewind)
                set(CURLOPT_SEEKDATA, me)
            }
            if request.method != "POST" || !hasBody {
                set(CURLOPT_CUSTOMREQUEST, request.method)
            }
        }
    }

    private func set(_ option: CURLoption, _ value: Int) {
        _ = ccurl_easy_set_long(easy, option, value)
    }

    private func set(_ option: CURLoption, _ value: String) {
        _ = ccurl_easy_set_pointer(easy, option, value)  // libcurl copies strings
    }

    private func set(_ option: CURLoption, _ value: UnsafeRawPointer?) {
        _ = ccurl_easy_set_pointer(easy, option, value)
    }

    // MARK: callbacks (engine thread)

    fileprivate func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Int {
        do {
            if case .head(let status, let headers) = try parser.feed(line) {
                channel.receiveHead(status: status, headers: headers)
            }
            return line.count
        } catch {
            stopReason = .unreachable(.protocol)
            return 0
        }
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        // Refused when the client is a full buffer behind: libcurl keeps the bytes and
        // stops reading from the upstream until the engine resumes the transfer.
        channel.offerBody(Data(bytes)) ? bytes.count : ccurl_writefunc_pause
    }

    fileprivate func sendBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, body.count - bodySent)
        guard count > 0 else { return 0 }
        let start = body.startIndex + bodySent
        body.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + count)
        bodySent += count
        return count
    }

    fileprivate func refuseRewind() -> Int32 {
        stopReason = .unreachable(.reset)
        return ccurl_seekfunc_fail
    }

    /// True the first time only: the caller then asks the engine to cancel.
    func requestCancel() -> Bool {
        cancelRequested.withLock { requested in
            defer { requested = true }
            return !requested
        }
    }

    var isCancelRequested: Bool { cancelRequested.withLock { $0 } }

    /// libcurl finished the transfer, or the engine removed it.
    func complete(_ code: CURLcode) {
        channel.finish(code == CURLE_OK ? nil : (stopReason ?? UpstreamFailure(curlCode: code)))
    }

    static func from(_ userdata: UnsafeMutableRawPointer?) -> CurlTransfer {
        Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
    }
}

// C entry points: libcurl calls them with the transfer as user data.

private let curlHeaderLine: ccurl_data_callback = { buffer, size, count, userdata in
    CurlTransfer.from(userdata).receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: size * count))
}

private let curlBodyBytes: ccurl_data_callback = { buffer, size, count, userdata in
    CurlTransfer.from(userdata).receiveBody(UnsafeRawBufferPointer(start: buffer, count: size * count))
}

private let curlRequestBytes: ccurl_data_callback = { buffer, size, count, userdata in
    CurlTransfer.from(userdata).sendBody(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
}

private let curlRewind: ccurl_seek_callback = { userdata, _, _ in
    CurlTransfer.from(userdata).refuseRewind()
}
