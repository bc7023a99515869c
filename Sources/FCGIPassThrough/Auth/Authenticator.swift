/// Decides whether a request may use an endpoint (SPEC §4).
public struct Authenticator: Sendable {
    public let masterKey: String?
    public let keyHeaderName: String?

    public init(masterKey: String?, keyHeaderName: String?) {
        self.masterKey = masterKey
        self.keyHeaderName = keyHeaderName
    }

    /// `nil` when allowed; otherwise the 401 to answer. Runs before any upstream connection.
    public func check(_ headers: HTTPHeaders, for endpoint: Endpoint) -> GatewayError? { nil }
}
