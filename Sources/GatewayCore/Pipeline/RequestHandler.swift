/// Handles one client request end to end, writing the answer to `writer`.
/// Called on a worker thread that blocks until the response is complete.
public protocol RequestHandler: Sendable {
    func handle(_ request: GatewayRequest, writer: any ResponseWriter)
}
