internal import CCurl
import Foundation
import GatewayCore

/// The `curl` transport, the default: libcurl driven directly by the worker thread that
/// serves the request (`CurlThread`), for what URLSession on Linux cannot do — upstream
/// connections kept warm across requests, a CA store parsed once per thread, and a
/// slow client pausing the upstream instead of being cut off (docs/PERFORMANCE.md).
public final class CurlUpstreamClient: UpstreamClient, @unchecked Sendable {
    private let caFile: String

    /// The bundle libcurl's Debian build uses by default.
    public static let systemCAFile = "/etc/ssl/certs/ca-certificates.crt"

    /// - Parameter caFile: the CA bundle upstream certificates are checked against.
    public init(caFile: String? = nil) {
        _ = Self.globalInit
        self.caFile = caFile ?? Self.systemCAFile
    }

    /// Before any thread uses libcurl, once per process.
    private static let globalInit: Void = {
        let code = curl_global_init(Int(CURL_GLOBAL_ALL))
        if code != CURLE_OK { fatalError("curl_global_init failed: \(code.rawValue)") }
    }()

    /// libcurl passes the body on as received: `Content-Encoding` still describes it.
    public var decodesContentEncoding: Bool { false }

    /// Blocks in libcurl on the calling thread; `buffering` does not apply: a slow client
    /// holds the upstream back instead.
    public func exchange(_ request: UpstreamRequest, buffering: ResponseBuffering, with sink: any UpstreamSink)
        -> UpstreamFailure?
    {
        CurlThread.current().exchange(request, caFile: caFile, sink: sink)
    }
}
