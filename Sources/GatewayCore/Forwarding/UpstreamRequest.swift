import Foundation

/// The request the gateway sends upstream: fully rewritten, ready for the transport.
public struct UpstreamRequest: Sendable {
    public var method: String
    /// Absolute URL text: scheme, authority, path and query as they go on the wire.
    public var url: String
    /// Exactly the headers to send; the transport adds only framing (`Host`, `Content-Length`).
    public var headers: HTTPHeaders
    public var body: Data
    /// Idle seconds without upstream progress before the request fails.
    public var timeout: Double

    public init(method: String, url: String, headers: HTTPHeaders, body: Data, timeout: Double) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}
