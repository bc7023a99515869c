import Foundation

/// The transport that carries an `UpstreamRequest` to the upstream API.
///
/// The seam tests replace with a fake, and where a second transport would plug in.
/// Implementations deliver the response into `channel` from their own threads and
/// must never block there.
public protocol UpstreamClient: Sendable {
    /// Starts the request; events arrive in `channel`. The returned call cancels it.
    func start(_ request: UpstreamRequest, into channel: ResponseChannel) -> any UpstreamCall
}

/// A started upstream request.
public protocol UpstreamCall: Sendable {
    /// Stops the transfer and closes its connection. Idempotent.
    func cancel()
}

/// Why an upstream request failed, in the words the client-facing status needs (SPEC §6).
public enum UpstreamFailure: Error, Sendable, Equatable {
    /// Connect, DNS, TLS, reset or a malformed answer: 502 before the head.
    case unreachable(String)
    /// No upstream progress for the endpoint's timeout: 504 before the head.
    case timedOut
    /// The response head cannot be relayed safely (too large, invalid bytes): 502.
    case invalidResponse(String)
    /// The transport cannot carry this request (400 to the client).
    case unsupported(String)
    /// The gateway cancelled it (client gone, buffer bound exceeded, shutdown).
    case cancelled
}
