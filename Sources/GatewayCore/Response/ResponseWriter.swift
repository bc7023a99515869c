import Foundation

/// Where a response goes: the FastCGI stream in production, a recorder in tests.
///
/// Every write reports whether the client is still there; `false` means the client
/// went away and the caller must stop (and cancel the upstream).
public protocol ResponseWriter: AnyObject {
    func writeHead(status: Int, headers: HTTPHeaders) -> Bool
    /// - Parameter flush: push the bytes to nginx now (streams) rather than when the buffer fills.
    func writeBody(_ data: Data, flush: Bool) -> Bool
    /// Ends the response so nginx and the client see it as broken, never as complete.
    func abort()
    /// Checks, without blocking, whether the client has gone away.
    func clientHasGone() -> Bool
}

extension ResponseWriter {
    /// Answers with a gateway error in LiteLLM's envelope (docs/BEHAVIOUR.md §6).
    @discardableResult
    package func write(_ error: GatewayError, requestID: String) -> Bool {
        var headers = error.headers
        headers.set("Content-Type", "application/json")
        headers.set("x-litellm-call-id", requestID)
        let body = error.body
        headers.set("Content-Length", String(body.count))
        return writeHead(status: error.status, headers: headers) && writeBody(body, flush: true)
    }
}
