import Foundation
import GatewayCore

/// The libcurl transport (`general_settings.transport: curl`): libcurl's multi
/// interface driven directly, for what URLSession on Linux cannot do — a connection
/// cache sized to the load, a CA store parsed once, and pausing a transfer while the
/// client catches up instead of dropping the client (docs/PERFORMANCE.md).
public final class CurlUpstreamClient: UpstreamClient, @unchecked Sendable {
    private let engine: CurlEngine
    private let caFile: String

    /// The bundle libcurl's Debian build uses by default.
    public static let systemCAFile = "/etc/ssl/certs/ca-certificates.crt"

    /// - Parameters:
    ///   - maxConnections: upstream connections kept open for reuse; at least the most
    ///     transfers the process runs at once (its worker threads).
    ///   - caFile: the CA bundle upstream certificates are checked against.
    public init(maxConnections: Int, caFile: String? = nil) {
        engine = CurlEngine(maxConnections: maxConnections)
        self.caFile = caFile ?? Self.systemCAFile
    }

    /// libcurl passes the body on as received: `Content-Encoding` still describes it.
    public var decodesContentEncoding: Bool { false }

    public func start(_ request: UpstreamRequest, into channel: ResponseChannel) -> any UpstreamCall {
        guard let transfer = CurlTransfer(request, channel: channel, caFile: caFile) else {
            channel.finish(.unreachable(.other))
            return Call(transfer: nil, engine: engine)
        }
        channel.onRoom { [engine, weak transfer] in
            if let transfer { engine.post(.resume(transfer)) }
        }
        engine.post(.add(transfer))
        return Call(transfer: transfer, engine: engine)
    }

    private struct Call: UpstreamCall {
        let transfer: CurlTransfer?
        let engine: CurlEngine

        func cancel() {
            guard let transfer, transfer.requestCancel() else { return }
            engine.post(.cancel(transfer))
        }
    }
}
