/// Turns a client request and its matched endpoint into the upstream request (docs/BEHAVIOUR.md §3).
///
/// Built once per config; `rewrite` is pure and runs after routing and auth.
public struct RequestRewriter: Sendable {
    public let config: GatewayConfig
    private let headerPolicy: HeaderPolicy

    public init(config: GatewayConfig) {
        self.config = config
        self.headerPolicy = HeaderPolicy(
            masterKey: config.masterKey, keyHeaderName: config.keyHeaderName, keys: KeyTable(config.keys))
    }

    /// - Parameters:
    ///   - subpath: from `Router.Match.endpoint`.
    /// - Throws: 400 for a query or header that cannot be forwarded safely.
    public func rewrite(_ request: GatewayRequest, endpoint: Endpoint, subpath: String?) throws(GatewayError) -> UpstreamRequest {
        let target = endpoint.target
        let query = QueryMerger.query(
            client: try QueryMerger.normalizedClientQuery(request.rawQuery),
            target: target.query,
            defaults: endpoint.defaultQueryParams,
            merge: endpoint.mergeQueryParams)
        let url = target.origin + target.path(appending: subpath) + (query.map { "?" + $0 } ?? "")
        return UpstreamRequest(
            method: request.method,
            url: url,
            headers: try headerPolicy.upstreamHeaders(for: request, endpoint: endpoint),
            body: request.body,
            timeout: endpoint.timeout ?? config.defaultTimeout)
    }
}
