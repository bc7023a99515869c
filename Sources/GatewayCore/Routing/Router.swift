/// Picks the endpoint for a request path and method (docs/BEHAVIOUR.md §2).
///
/// Built once per config. Routes sit in a tree keyed by decoded path segments, so a match
/// costs one dictionary lookup per request segment, whatever the number of routes.
/// The deepest matching route wins, so file order never matters (PATH-03).
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
    private let root: RouteNode

    public init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
        var root = RouteNode()
        for endpoint in endpoints {
            root.insert(endpoint, at: RouteNode.segments(of: endpoint.path)[...])
        }
        self.root = root
    }

    /// Matches on `path.decoded`, segment by segment: a route `path` matches itself and,
    /// with `include_subpath`, `path/...` (never `pathX`). Methods compare case-sensitively
    /// (RFC 9110 §9.1).
    public func match(_ path: RequestPath, method: String) -> Match {
        let segments = path.decodedSegments
        var node = root
        var depth = 0
        // The deepest subpath route passed on the way down that still has segments after it.
        var deepestPrefix: (routes: RouteNode.Routes, depth: Int)?
        while depth < segments.count {
            if let prefix = node.prefix { deepestPrefix = (prefix, depth) }
            guard let child = node.children[segments[depth]] else { break }
            node = child
            depth += 1
        }
        if depth == segments.count, let exact = node.exact {
            return Self.resolve(exact, method: method, subpath: nil)
        }
        if let (routes, prefixDepth) = deepestPrefix {
            let subpath = path.rawSegments[prefixDepth...].joined(separator: "/")
            return Self.resolve(routes, method: method, subpath: subpath)
        }
        return .notFound
    }

    /// Among the entries of the most specific path, the method decides; no fallback to a
    /// shorter route, so adding a method-limited route never widens what another one serves.
    private static func resolve(_ routes: RouteNode.Routes, method: String, subpath: String?) -> Match {
        guard let endpoint = routes.byMethod[method] else { return .methodNotAllowed(allow: routes.allow) }
        return .endpoint(endpoint, subpath: subpath)
    }
}

/// One node of the route tree: the routes whose path ends here, and deeper segments.
struct RouteNode: Sendable {
    /// The endpoints sharing one path, by method.
    struct Routes: Sendable {
        var byMethod: [String: Endpoint] = [:]
        /// Sorted methods for `Allow` (RFC 9110 §10.2.1).
        var allow: [String] = []

        func adding(_ endpoint: Endpoint) -> Routes {
            var routes = self
            // The config loader refuses a duplicate path+method; should one get here
            // anyway, the first in file order keeps it.
            for method in endpoint.methods where routes.byMethod[method] == nil {
                routes.byMethod[method] = endpoint
            }
            routes.allow = routes.byMethod.keys.sorted()
            return routes
        }
    }

    /// Every endpoint whose path is exactly this node's path.
    var exact: Routes?
    /// The `include_subpath` endpoints among them, which also match deeper paths.
    var prefix: Routes?
    var children: [String: RouteNode] = [:]

    /// A route path split like `RequestPath`: `/` has no segments, `/a/b` has `a`, `b`.
    /// Route paths are compared literally with the decoded request path (as Swift strings,
    /// so a non-ASCII route also matches its canonically equivalent spelling).
    static func segments(of path: String) -> [String] {
        let body = path.utf8.first == UInt8(ascii: "/") ? path.dropFirst() : path[...]
        return body.isEmpty ? [] : body.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    }

    mutating func insert(_ endpoint: Endpoint, at segments: ArraySlice<String>) {
        guard let first = segments.first else {
            exact = (exact ?? Routes()).adding(endpoint)
            if endpoint.includeSubpath { prefix = (prefix ?? Routes()).adding(endpoint) }
            return
        }
        children[first, default: RouteNode()].insert(endpoint, at: segments.dropFirst())
    }
}
