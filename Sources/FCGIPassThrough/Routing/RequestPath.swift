/// The one view of the request path that routing, auth and forwarding share (SPEC §2).
///
/// Built from the raw `REQUEST_URI` path, never from `Host`, `X-Forwarded-*` or nginx's
/// decoded `DOCUMENT_URI`.
public struct RequestPath: Sendable, Equatable {
    /// As the client encoded it.
    public let raw: String
    /// Percent-decoded, used only to match routes.
    public let decoded: String

    /// - Throws: 400 for dot segments (`.`, `..`, `%2e`), empty segments, encoded `/` or `\`,
    ///   malformed escapes, control bytes, or a path not starting with `/`.
    public init(raw: Substring) throws(GatewayError) {
        self.raw = String(raw)
        self.decoded = String(raw)
    }
}
