import Foundation

/// A request body that is read on demand (AUTH-05): after routing and auth, and only
/// for requests that will be forwarded.
public protocol RequestBodySource: AnyObject, Sendable {
    /// Reads the whole body.
    /// - Throws: 413 past the size limit, 400 when the body ended before its end marker.
    func readBody() throws(GatewayError) -> Data
}
