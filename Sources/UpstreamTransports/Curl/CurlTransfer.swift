internal import CCurl
import Foundation
import GatewayCore

/// One upstream exchange on libcurl: the request it sends, the parser of the answer's
/// head, and the sink the answer goes to.
///
/// Lives on the worker thread that runs the exchange, on that thread's easy handle
/// (`CurlThread`): libcurl calls the callbacks on the same thread, from inside
/// `curl_multi_perform`.
final class CurlTransfer {
    let easy: UnsafeMutableRawPointer
    private let sink: any UpstreamSink
    private let body: Data
    private var bodySent = 0
    /// A small body's bytes for `CURLOPT_POSTFIELDS`, which libcurl reads where they lie
    /// until the transfer ends (`Data` promises no address that outlives a closure).
    private var postFields: UnsafeMutableRawBufferPointer?
    /// Times libcurl was about to send the request: more than once is its own retry.
    private var attempts = 0
    /// Whether a retry of a request already sent must be refused (a request with a body).
    private var refusesResending = false
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var parser = ResponseHeadParser()
    /// Why a callback stopped the transfer; libcurl itself reports only a write error.
    private(set) var stopReason: UpstreamFailure?
    /// When the upstream last sent something (or the client last took something).
    private(set) var lastProgress = ContinuousClock.now

    /// Headers libcurl would add on its own. An empty `Name:` line tells it not to, so
    /// the upstream receives exactly the headers the rewriter chose.
    static let suppressedHeaders = ["Accept", "Expect", "Content-Type"]

    /// Methods that carry a body even when it is empty (`Content-Length: 0`).
    static let bodyMethods: Set<String> = ["POST", "PUT", "PATCH"]

    /// Configures `easy` (freshly reset) for `request`.
    init(_ request: UpstreamRequest, easy: UnsafeMutableRawPointer, caFile: String, sink: any UpstreamSink) {
        self.easy = easy
        self.sink = sink
        self.body = request.body
        configure(request, caFile: caFile)
    }

    deinit {
        curl_slist_free_all(headerList)
        postFields?.deallocate()
    }

    /// Bodies below this go in the same `send` as the head (libcurl's
    /// `MAX_INITIAL_POST_SIZE`); larger ones are read through the read callback.
    static let inlineBodyLimit = 64 * 1024

    private func configure(_ request: UpstreamRequest, caFile: String) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_URL, request.url)
        // Threads and signals: libcurl must never raise SIGALRM in a threaded process.
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        // Redirects are relayed, never followed (docs/BEHAVIOUR.md §3); libcurl's default, stated.
        set(CURLOPT_FOLLOWLOCATION, 0)
        // A CONNECT through an egress proxy must not look like the upstream's head.
        set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        // The CA file only, never a CA directory: libcurl then keeps the parsed store in
        // the thread's multi handle and reuses it, instead of reading the whole bundle
        // again for every new TLS connection (tens of milliseconds of CPU each).
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

        // Each line is built in one reused buffer: a String per line costs an interpolation
        // and a C string copy on top of the copy libcurl makes.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        func append(_ name: String, _ value: String?) {
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: name.utf8)
            if let value, !value.isEmpty {
                line.append(contentsOf: ": ".utf8)
                line.append(contentsOf: value.utf8)
            } else {
                // "Name;" is libcurl's spelling of a header sent with an empty value;
                // "Name:" (no value) removes one it would add.
                line.append(value == nil ? UInt8(ascii: ":") : UInt8(ascii: ";"))
            }
            line.append(0)
            headerList = line.withUnsafeBytes { curl_slist_append(headerList, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        }
        for field in request.headers.fields { append(field.name, field.value) }
        for name in Self.suppressedHeaders where !request.headers.contains(name) { append(name, nil) }
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
                set(CURLOPT_POST, 1)
                _ = ccurl_easy_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
                let me = Unmanaged.passUnretained(self).toOpaque()
                if request.body.count < Self.inlineBodyLimit {
                    // Handed over as post fields, a small body leaves with the head in one
                    // `send`: one system call and one wake-up of the upstream fewer.
                    let fields = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, request.body.count), alignment: 1)
                    request.body.withUnsafeBytes { fields.copyMemory(from: $0) }
                    postFields = fields
                    set(CURLOPT_POSTFIELDS, UnsafeRawPointer(fields.baseAddress))
                } else {
                    // Read from memory through a callback without a seek function: libcurl
                    // cannot rewind it to send it again; it fails instead.
                    _ = ccurl_easy_set_data_callback(easy, CURLOPT_READFUNCTION, curlRequestBytes)
                    set(CURLOPT_READDATA, me)
                    _ = ccurl_easy_set_seek_callback(easy, curlRewind)
                    set(CURLOPT_SEEKDATA, me)
                }
                // libcurl sends a request again, on a fresh connection, when a kept-alive
                // one dies before any answer byte; the upstream may have acted on it
                // (UP-03: a billable call made twice). Its pre-request callback runs before
                // each attempt and refuses one after a request that left.
                refusesResending = true
                _ = ccurl_easy_set_prereq_callback(easy, curlBeforeRequest)
                set(CURLOPT_PREREQDATA, me)
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

    // MARK: callbacks (inside curl_multi_perform, on the worker thread)

    fileprivate func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Int {
        lastProgress = .now
        do {
            if case .head(let status, let headers) = try parser.feed(line) {
                guard sink.receiveHead(status: status, headers: headers) else { return stop(.cancelled) }
            }
            return line.count
        } catch {
            return stop(.unreachable(.protocol))
        }
    }

    /// Blocks while the client is slow: libcurl reads nothing more from the upstream
    /// meanwhile, so TCP holds the upstream back (the pause comes for free).
    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        lastProgress = .now
        guard sink.receiveBody(Data(bytes)) else { return stop(.cancelled) }
        // Time spent waiting for the client is not the upstream's silence.
        lastProgress = .now
        return bytes.count
    }

    fileprivate func sendBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, body.count - bodySent)
        guard count > 0 else { return 0 }
        let start = body.startIndex + bodySent
        body.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + count)
        bodySent += count
        lastProgress = .now
        return count
    }

    /// Allows the first attempt, and a retry only when nothing of the first one was
    /// sent (its `send` failed: the upstream cannot have seen it).
    fileprivate func beforeRequest() -> Int32 {
        attempts += 1
        guard attempts > 1, refusesResending else { return ccurl_prereqfunc_ok }
        var sent = 0
        guard ccurl_easy_get_long(easy, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK, sent == 0 else {
            stopReason = .unreachable(.reset)
            return ccurl_prereqfunc_abort
        }
        return ccurl_prereqfunc_ok
    }

    fileprivate func refuseRewind() -> Int32 {
        stopReason = .unreachable(.reset)
        return ccurl_seekfunc_fail
    }

    /// Records why, and answers libcurl with the write error that aborts the transfer.
    private func stop(_ reason: UpstreamFailure) -> Int {
        if stopReason == nil { stopReason = reason }
        return 0
    }

    /// The exchange's result once libcurl finished with `code`.
    func result(_ code: CURLcode) -> UpstreamFailure? {
        code == CURLE_OK ? nil : (stopReason ?? UpstreamFailure(curlCode: code))
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

private let curlBeforeRequest: ccurl_prereq_callback = { userdata, _, _, _, _ in
    CurlTransfer.from(userdata).beforeRequest()
}
