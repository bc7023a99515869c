extension UpstreamTransport {
    /// The process's one client for this transport.
    /// - Parameter threads: requests the process serves at once: the most transfers in
    ///   flight, which is what connection limits and caches are sized to.
    public func makeClient(threads: Int, caFile: String?) -> any UpstreamClient {
        switch self {
        case .urlsession: URLSessionUpstreamClient(maxConnectionsPerHost: threads)
        case .curl: CurlUpstreamClient(maxConnections: threads * 2, caFile: caFile)
        }
    }
}
