import Foundation
import GatewayCore

/// The transport that carries an `UpstreamRequest` to the upstream API.
///
/// The seam tests replace with a fake, and where a second transport would plug in.
/// Implementations deliver the response into `channel` from their own threads and
/// must never block there.
public protocol UpstreamClient: Sendable {
    /// Starts the request; events arrive in `channel`. The returned call cancels it.
    func start(_ request: UpstreamRequest, into channel: ResponseChannel) -> any UpstreamCall

    /// True when the transport decodes a `Content-Encoding` itself, so the upstream's
    /// `Content-Encoding` and `Content-Length` no longer describe the body it delivers.
    var decodesContentEncoding: Bool { get }
}

extension UpstreamClient {
    public var decodesContentEncoding: Bool { false }
}

/// A started upstream request.
public protocol UpstreamCall: Sendable {
    /// Stops the transfer and closes its connection. Idempotent.
    func cancel()
}

/// Why an upstream request failed, in the words the client-facing status needs (docs/BEHAVIOUR.md §6).
public enum UpstreamFailure: Error, Sendable, Equatable {
    /// Connect, DNS, TLS, reset or a malformed answer: 502 before the head.
    case unreachable(Cause)
    /// No upstream progress for the endpoint's timeout: 504 before the head.
    case timedOut
    /// The transport cannot carry this request (400 to the client).
    case unsupported(String)
    /// The gateway cancelled it (client gone, buffer bound exceeded, shutdown).
    case cancelled
}

extension UpstreamFailure {
    /// The `kind` label of the error metric.
    package var kind: String {
        switch self {
        case .unreachable(let cause): cause.rawValue
        case .timedOut: "timeout"
        case .unsupported: "unsupported"
        case .cancelled: "cancelled"
        }
    }

    /// Why an upstream could not be reached; also the `kind` label of the error metric.
    public enum Cause: String, Sendable, Equatable {
        case dns, connect, tls, reset, `protocol`, other

        /// The client-facing explanation: generic on purpose (no host names, no addresses).
        package var message: String {
            switch self {
            case .dns: "upstream host not found"
            case .connect: "upstream refused the connection"
            case .tls: "TLS handshake with the upstream failed"
            case .reset: "upstream closed the connection"
            case .protocol: "upstream sent an invalid response"
            case .other: "upstream request failed"
            }
        }
    }
}
