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
    /// The request body, complete once `bodySource` has been read (see `loadingBody()`).
    public var body: Data
    /// Where the body still waits, unread: the gateway reads it only after routing and
    /// auth accepted the request, so a refused upload never occupies its memory (AUTH-05).
    /// `nil` when `body` is already complete.
    public var bodySource: (any RequestBodySource)?
    /// nginx's `$request_id` when the snippet passes it (`REQUEST_ID`).
    public var requestID: String?
    /// `REMOTE_ADDR`, for logs.
    public var remoteAddress: String?

    public init(
        method: String,
        requestURI: String,
        headers: HTTPHeaders = HTTPHeaders(),
        body: Data = Data(),
        bodySource: (any RequestBodySource)? = nil,
        requestID: String? = nil,
        remoteAddress: String? = nil
    ) {
        self.method = method
        self.requestURI = requestURI
        self.headers = headers
        self.body = body
        self.bodySource = bodySource
        self.requestID = requestID
        self.remoteAddress = remoteAddress
    }

    /// The request with its body read from `bodySource`.
    /// - Throws: 413 past the size limit, 400 when the body ended before its end marker.
    public func loadingBody() throws(GatewayError) -> GatewayRequest {
        guard let bodySource else { return self }
        var loaded = self
        loaded.body = try bodySource.readBody()
        loaded.bodySource = nil
        return loaded
    }

    /// The raw path part of `requestURI`: up to the first `?` byte. Found by bytes, not
    /// Characters: a `?` that a combining mark after it joins into one grapheme still
    /// ends the path (and the byte search costs a tenth as much).
    public var rawPath: Substring {
        let utf8 = requestURI.utf8
        return utf8.firstIndex(of: UInt8(ascii: "?")).map { Substring(utf8[..<$0]) } ?? requestURI[...]
    }

    /// The raw query after the first `?` byte, `nil` when there is none.
    public var rawQuery: Substring? {
        let utf8 = requestURI.utf8
        return utf8.firstIndex(of: UInt8(ascii: "?")).map { Substring(utf8[utf8.index(after: $0)...]) }
    }
}
