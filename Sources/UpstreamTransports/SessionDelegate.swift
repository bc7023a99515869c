import Foundation
import GatewayCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Routes URLSession callbacks to each request's `ResponseChannel`.
final class SessionDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let channels = Locked<[Int: ResponseChannel]>([:])

    func register(_ task: URLSessionTask, _ channel: ResponseChannel) {
        channels.withLock { $0[task.taskIdentifier] = channel }
    }

    private func channel(for task: URLSessionTask) -> ResponseChannel? {
        channels.withLock { $0[task.taskIdentifier] }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        guard let http = response as? HTTPURLResponse, let channel = channel(for: dataTask) else {
            completionHandler(.cancel)
            return
        }
        // An interim answer (103 Early Hints): FoundationNetworking reports it like a final
        // one, then reports the final one. FastCGI cannot carry it; relayed, its status
        // would replace the real one (UP-07).
        if (100..<200).contains(http.statusCode) {
            completionHandler(.allow)
            return
        }
        channel.receiveHead(status: http.statusCode, headers: Self.headers(of: http))
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let channel = channel(for: dataTask) else { return }
        if !channel.receiveBody(data) {
            // The client stopped reading and the bound is reached: stop the upstream.
            dataTask.cancel()
        }
    }

    // Redirects are relayed, never followed: following one would send the injected
    // secret to whatever host the upstream names (docs/BEHAVIOUR.md §3).
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    // libcurl silently replays a request on a fresh connection when a kept-alive one dies
    // before any response byte arrives, even a POST the upstream may already have read and
    // acted on (UP-03: a billable call made twice). The replay needs the body again, which
    // FoundationNetworking asks the task's delegate for: refuse, and fail the request.
    func urlSession(
        _ session: URLSession, task: URLSessionTask, needNewBodyStream completionHandler: @escaping (InputStream?) -> Void
    ) {
        channel(for: task)?.finish(.unreachable(.reset))
        completionHandler(nil)
        // Called on the session's work queue, which cancel() waits for: cancel from elsewhere.
        DispatchQueue.global().async { task.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        let channel = channels.withLock { $0.removeValue(forKey: task.taskIdentifier) }
        channel?.finish(error.map(Self.failure(for:)))
    }

    static func failure(for error: Error) -> UpstreamFailure {
        guard let urlError = error as? URLError else { return .unreachable(.other) }
        switch urlError.code {
        case .timedOut: return .timedOut
        case .cancelled: return .cancelled
        case .cannotFindHost, .dnsLookupFailed: return .unreachable(.dns)
        case .cannotConnectToHost: return .unreachable(.connect)
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected:
            return .unreachable(.tls)
        case .networkConnectionLost: return .unreachable(.reset)
        case .badServerResponse: return .unreachable(.protocol)
        default: return .unreachable(.other)
        }
    }

    /// The header fields as received. FoundationNetworking folds duplicates into one
    /// comma-joined field, except Set-Cookie which it keeps separated by ", " as well.
    package static func headers(of response: HTTPURLResponse) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for (name, value) in response.allHeaderFields {
            guard let name = name as? String, let value = value as? String else { continue }
            headers.append(name, value)
        }
        return headers
    }
}
