/// Turns a client request and its matched endpoint into the upstream request (SPEC §3).
public struct RequestRewriter: Sendable {
    public let config: GatewayConfig

    public init(config: GatewayConfig) { self.config = config }

    /// - Parameters:
    ///   - subpath: from `Router.Match.endpoint`.
    /// - Throws: 400 for a query or header that cannot be forwarded safely.
    public func rewrite(_ request: GatewayRequest, endpoint: Endpoint, subpath: String?) throws(GatewayError) -> UpstreamRequest {
        throw GatewayError.badRequest("not implemented")
    }
}
