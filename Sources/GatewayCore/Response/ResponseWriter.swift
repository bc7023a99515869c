import Foundation

/// Where a response goes: the FastCGI stream in production, a recorder in tests.
///
/// Every write reports whether the client is still there; `false` means the client
/// went away and the caller must stop (and cancel the upstream).
///
/// What is written waits in the writer's buffer until a flush (`writeBody(_:flush: true)`,
/// `flush()`, a full buffer or the end of the request), so that a head and a body that
/// are ready together reach nginx in one write: one wake-up of nginx instead of two.
public protocol ResponseWriter: AnyObject {
    func writeHead(status: Int, headers: HTTPHeaders) -> Bool
    /// - Parameter flush: push the bytes to nginx now (streams) rather than when the buffer fills.
    func writeBody(_ data: Data, flush: Bool) -> Bool
    /// Pushes what waits in the buffer to nginx now.
    func flush() -> Bool
    /// Ends the response so nginx and the client see it as broken, never as complete.
    func abort()
    /// Checks, without blocking, whether the client has gone away.
    func clientHasGone() -> Bool
    /// A descriptor that turns readable when the client goes away (nginx closes the
    /// FastCGI connection), for a transport to wait on beside the upstream's socket so
    /// that a departure is seen at once and a silent upstream costs no periodic
    /// wake-ups; `nil` when there is none and `clientHasGone()` must be asked instead.
    /// Readable is a reason to ask `clientHasGone()`, not an answer: bytes that are no
    /// departure can make it readable too.
    var departureDescriptor: Int32? { get }
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
