import Foundation
import GatewayCore

/// The transport that carries an `UpstreamRequest` to the upstream API.
///
/// The seam tests replace with a fake, and where a second transport plugs in. An
/// exchange runs on the thread that asks for it (a worker thread serving one request):
/// the answer reaches the sink on that thread, in order, as it arrives, and the call
/// returns once the exchange has ended.
public protocol UpstreamClient: Sendable {
    /// Runs one exchange. Whenever the sink answers `false` the exchange stops at once,
    /// its connection closed rather than reused, and the result is `.cancelled`.
    /// - Returns: `nil` for a complete answer, else why it failed.
    func exchange(_ request: UpstreamRequest, buffering: ResponseBuffering, with sink: any UpstreamSink) -> UpstreamFailure?

    /// True when the transport decodes a `Content-Encoding` itself, so the upstream's
    /// `Content-Encoding` and `Content-Length` no longer describe the body it delivers.
    var decodesContentEncoding: Bool { get }
}

extension UpstreamClient {
    public var decodesContentEncoding: Bool { false }
}

/// Where a transport delivers an upstream's answer, on the thread running the exchange.
public protocol UpstreamSink: AnyObject {
    /// The final response head (interim 1xx heads are never delivered).
    func receiveHead(status: Int, headers: HTTPHeaders) -> Bool
    /// Body bytes. May block while the client catches up; a transport that can pause
    /// reads nothing more from the upstream meanwhile.
    func receiveBody(_ data: Data) -> Bool
    /// The transport has delivered everything it has received and is about to wait for
    /// the upstream: what the sink held back to write together goes to the client now.
    /// `false` when the client is gone (the exchange then stops).
    func flushBeforeWaiting() -> Bool
    /// Whether the exchange is still wanted (the client is there, the idle timeout not
    /// reached): asked when `departureDescriptor` turns readable or `idleDeadline` comes,
    /// or, by a transport that cannot wait on the descriptor, after every `pollInterval`
    /// of silence.
    func stillWanted() -> Bool
    /// How often a silent exchange asks `stillWanted()` when it cannot wait on
    /// `departureDescriptor`.
    var pollInterval: Duration { get }
    /// A descriptor that turns readable when the client goes away, or `nil`. A transport
    /// that waits on it beside the upstream's socket asks `stillWanted()` when it turns
    /// readable and otherwise at `idleDeadline`, instead of every `pollInterval`; readable
    /// and still wanted means bytes that are no departure, after which it asks every
    /// `pollInterval` instead.
    var departureDescriptor: Int32? { get }
    /// When the idle timeout ends the exchange unless the upstream sends something first.
    var idleDeadline: ContinuousClock.Instant { get }
}

/// How much of an answer a transport that cannot pause (URLSession) may hold for a
/// client that reads slower than the upstream sends.
public struct ResponseBuffering: Sendable, Equatable {
    /// Bytes held in memory.
    public var memory: Int
    /// Bytes of a temporary file behind the memory (`max_temp_file_size`); 0: none.
    public var file: Int

    public init(memory: Int = 8 << 20, file: Int = 0) {
        self.memory = memory
        self.file = file
    }
}

/// Why an upstream request failed, in the words the client-facing status needs (docs/BEHAVIOUR.md §6).
public enum UpstreamFailure: Error, Sendable, Equatable {
    /// Connect, DNS, TLS, reset or a malformed answer: 502 before the head.
    case unreachable(Cause)
    /// No upstream progress for the endpoint's timeout: 504 before the head.
    case timedOut
    /// The transport cannot carry this request (400 to the client).
    case unsupported(String)
    /// The gateway cancelled it (client gone, idle timeout, shutdown).
    case cancelled
    /// The client fell further behind than the transport could buffer (URLSession, which
    /// cannot pause an upstream): the answer was broken off, for the reason given.
    case clientTooSlow(String)
}

extension UpstreamFailure {
    /// The `kind` label of the error metric.
    package var kind: String {
        switch self {
        case .unreachable(let cause): cause.rawValue
        case .timedOut: "timeout"
        case .unsupported: "unsupported"
        case .cancelled: "cancelled"
        case .clientTooSlow: "slow_client"
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
