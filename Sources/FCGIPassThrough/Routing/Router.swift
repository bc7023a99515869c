/// Picks the endpoint for a request path and method (SPEC §2).
public struct Router: Sendable {
    public enum Match: Sendable, Equatable {
        /// `subpath` is the raw, client-encoded remainder after the route path (no leading
        /// slash; may be empty; a trailing slash kept); `nil` for an exact match.
        case endpoint(Endpoint, subpath: String?)
        /// The path exists for other methods; `allow` is sorted.
        case methodNotAllowed(allow: [String])
        case notFound
    }

    public let endpoints: [Endpoint]

    public init(endpoints: [Endpoint]) { self.endpoints = endpoints }

    public func match(_ path: RequestPath, method: String) -> Match { .notFound }
}
