import Foundation
import GatewayCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The `urlsession` transport: one URLSession per process, configured for a proxy rather
/// than a browser (docs/ARCHITECTURE.md, "URLSession on Linux").
public final class URLSessionUpstreamClient: UpstreamClient, @unchecked Sendable {
    private let session: URLSession
    private let delegate: SessionDelegate

    /// - Parameter maxConnectionsPerHost: sized to the worker threads, so concurrent
    ///   requests to one API never queue behind URLSession's default of 6.
    public init(maxConnectionsPerHost: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        // Nothing is remembered between clients' requests.
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        configuration.urlCredentialStorage = nil
        configuration.httpMaximumConnectionsPerHost = max(1, maxConnectionsPerHost)
        // Idle timeouts are enforced per request by the relay (docs/BEHAVIOUR.md §3: `timeout` is the time
        // without upstream progress); URLSession's own timers must never fire first.
        configuration.timeoutIntervalForRequest = 7 * 24 * 3600
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        configuration.httpAdditionalHeaders = nil

        let delegate = SessionDelegate()
        // Callbacks run on one serial queue and never block (they only append to a channel).
        let queue = OperationQueue()
        queue.name = "fcgi-pass-through.upstream"
        queue.maxConcurrentOperationCount = 1
        self.delegate = delegate
        self.session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
    }

    /// FoundationNetworking always asks for and decodes gzip, deflate and brotli.
    public var decodesContentEncoding: Bool { true }

    /// URLSession delivers on its own queue, and cannot pause: the answer is handed over
    /// through a bounded `ResponseChannel` that this thread drains into the sink.
    public func exchange(_ request: UpstreamRequest, buffering: ResponseBuffering, with sink: any UpstreamSink)
        -> UpstreamFailure?
    {
        let channel = ResponseChannel(bufferLimit: buffering.memory, spoolLimit: buffering.file)
        // Whatever the channel still holds, in memory or on disk, goes when the exchange does.
        defer { channel.release() }
        let call = start(request, into: channel)
        while true {
            // What was taken so far leaves in one write before this thread waits.
            var ready = channel.next(timeout: .zero)
            if ready == nil {
                guard sink.flushBeforeWaiting() else {
                    call.cancel()
                    return .cancelled
                }
                ready = channel.next(timeout: sink.pollInterval)
            }
            guard let event = ready else {
                if sink.stillWanted() { continue }
                call.cancel()
                return .cancelled
            }
            switch event {
            case .head(let status, let headers):
                guard sink.receiveHead(status: status, headers: headers) else {
                    call.cancel()
                    return .cancelled
                }
            case .body(let data):
                guard sink.receiveBody(data) else {
                    call.cancel()
                    return .cancelled
                }
            case .end(let failure):
                if let overflow = channel.overflow { return .clientTooSlow(Self.reason(overflow)) }
                return failure
            }
        }
    }

    func start(_ request: UpstreamRequest, into channel: ResponseChannel) -> any UpstreamCall {
        guard let url = URL(string: request.url) else {
            channel.finish(.unsupported("the upstream URL is not valid"))
            return NoCall()
        }
        // FoundationNetworking refuses a GET with a body ("GET method must not have a body").
        if request.method == "GET" && !request.body.isEmpty {
            channel.finish(.unsupported("a GET request with a body cannot be forwarded"))
            return NoCall()
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.timeoutInterval = 7 * 24 * 3600
        urlRequest.httpShouldHandleCookies = false
        for field in request.headers {
            urlRequest.addValue(field.value, forHTTPHeaderField: field.name)
        }
        // FoundationNetworking adds Accept, Accept-Language, User-Agent and a form
        // Content-Type of its own. A whitespace-only value passes its "already set"
        // check and libcurl then drops the line (CURLOPT_HTTPHEADER "Name:" rule), so
        // the upstream receives exactly the headers the rewriter chose.
        for name in Self.suppressedHeaders where !request.headers.contains(name) {
            urlRequest.setValue(" ", forHTTPHeaderField: name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        let task = session.dataTask(with: urlRequest)
        // Set on the task too: FoundationNetworking asks only a task's own delegate for a
        // new body stream, and that is how a replay is refused (SessionDelegate).
        task.delegate = delegate
        delegate.register(task, channel)
        task.resume()
        return TaskCall(task: task)
    }

    /// Why the answer was cut off, for the log.
    static func reason(_ overflow: ResponseChannel.Overflow) -> String {
        switch overflow {
        case .bufferFull: "buffer limit reached"
        case .spoolFull: "max_temp_file_size reached"
        case .spoolFailed(let why): "temporary file failed (\(why))"
        }
    }

    /// Headers the transport would otherwise add on its own.
    static let suppressedHeaders = ["Accept", "Accept-Language", "User-Agent", "Content-Type"]

    private struct TaskCall: UpstreamCall, @unchecked Sendable {
        let task: URLSessionDataTask
        func cancel() { task.cancel() }
    }

    private struct NoCall: UpstreamCall {
        func cancel() {}
    }
}

/// A started URLSession task.
protocol UpstreamCall: Sendable {
    /// Stops the transfer and closes its connection. Idempotent.
    func cancel()
}
