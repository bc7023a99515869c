import Foundation

/// One client request as nginx handed it over, in plain Swift values.
///
/// Built from the FastCGI params and body; no C type reaches past this point.
public struct GatewayRequest: Sendable {
    /// `REQUEST_METHOD`, as sent (nginx only passes valid tokens).
    public var method: String
    /// `REQUEST_URI`: the raw target exactly as the client wrote it, query included.
    /// Routing, auth and forwarding all derive the path from this one value.
    public var requestURI: String
    /// Client headers from `HTTP_*` params plus `CONTENT_TYPE`, names lower-cased with
    /// `_` turned back into `-` (nginx upper-cases them and drops the original case).
    public var headers: HTTPHeaders
    /// The request body, complete.
    public var body: Data
    /// nginx's `$request_id` when the snippet passes it (`REQUEST_ID`).
    public var requestID: String?
    /// `REMOTE_ADDR`, for logs.
    public var remoteAddress: String?

    public init(
        method: String,
        requestURI: String,
        headers: HTTPHeaders = HTTPHeaders(),
        body: Data = Data(),
        requestID: String? = nil,
        remoteAddress: String? = nil
    ) {
        self.method = method
        self.requestURI = requestURI
        self.headers = headers
        self.body = body
        self.requestID = requestID
        self.remoteAddress = remoteAddress
    }

    /// The raw path part of `requestURI`.
    public var rawPath: Substring {
        requestURI.firstIndex(of: "?").map { requestURI[..<$0] } ?? requestURI[...]
    }

    /// The raw query after `?`, `nil` when there is no `?`.
    public var rawQuery: Substring? {
        requestURI.firstIndex(of: "?").map { requestURI[requestURI.index(after: $0)...] }
    }
}
