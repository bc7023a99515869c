import GatewayCore

/// Builds the process's one upstream client for the configured transport.
public enum UpstreamClients {
    /// - Parameter threads: requests the process serves at once: the most transfers in
    ///   flight, which is what connection limits and caches are sized to.
    public static func make(_ transport: UpstreamTransport, threads: Int, caFile: String?) -> any UpstreamClient {
        switch transport {
        case .urlsession: URLSessionUpstreamClient(maxConnectionsPerHost: threads)
        case .curl: CurlUpstreamClient(caFile: caFile)
        }
    }
}
