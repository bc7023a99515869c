extension Router.Match {
    /// The error to answer for a failed match; `nil` for `.endpoint`.
    public var error: GatewayError? {
        switch self {
        case .endpoint: nil
        case .methodNotAllowed(let allow): .methodNotAllowed(allow: allow)
        case .notFound: .noRoute
        }
    }
}
