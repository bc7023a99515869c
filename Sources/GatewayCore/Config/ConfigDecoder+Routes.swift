/// Route rules: what a configured `path` may look like, and the checks across
/// endpoints (a path+method routed twice, a built-in route shadowed, an `id` reused).
extension ConfigDecoder {
    /// RFC 3986 `pchar` without `%`: routes match the percent-decoded request path,
    /// so an encoded configured path could never match.
    private static let pathCharacters = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/".utf8)

    /// A route path, stored without a trailing slash unless it is `/`.
    mutating func routePath(_ node: YAMLNode, at location: String) -> String? {
        guard let text = string(node, at: location) else { return nil }
        if let message = Self.pathProblem(text) {
            problem(message, at: location, line: node.line)
            return nil
        }
        var path = text
        if path.count > 1, path.hasSuffix("/") { path.removeLast() }
        guard
            path == "/"
                || !path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
                    .contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else {
            problem("must not contain empty, . or .. segments", at: location, line: node.line)
            return nil
        }
        return path
    }

    private static func pathProblem(_ text: String) -> String? {
        if !text.hasPrefix("/") { return "must start with /" }
        if text.contains("?") || text.contains("#") {
            return "must not contain ? or # (a route is a path only; see default_query_params)"
        }
        if text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return "must not contain spaces or control characters"
        }
        if !ConfigSyntax.isASCII(text) { return "must be ASCII" }
        if text.contains("%") { return "must not contain % (routes match the decoded request path; write it decoded)" }
        if !text.utf8.allSatisfy(pathCharacters.contains) {
            return "may contain only letters, digits, / and -._~!$&'()*+,;=:@"
        }
        return nil
    }

    func isBuiltIn(_ path: String) -> Bool { BuiltInRoute.byPath[path] != nil }

    /// The same path may appear twice only with disjoint methods (docs/BEHAVIOUR.md §1).
    mutating func checkRoutes(_ decoded: [DecodedEndpoint]) {
        var seenIDs: [String: DecodedEndpoint] = [:]
        for (index, current) in decoded.enumerated() {
            let endpoint = current.endpoint
            let pathLocation = Self.join(endpoint.location, "path")
            if isBuiltIn(endpoint.path) {
                problem("collides with the built-in route \(endpoint.path)", at: pathLocation, line: current.pathLine)
            }
            if let earlier = decoded[..<index].first(where: {
                $0.endpoint.path == endpoint.path && !$0.endpoint.methods.isDisjoint(with: endpoint.methods)
            }) {
                let shared = Self.describe(earlier.endpoint.methods.intersection(endpoint.methods))
                problem(
                    "same path and \(shared) as \(earlier.endpoint.location) (line \(earlier.pathLine)); give them disjoint methods",
                    at: pathLocation, line: current.pathLine)
            }
            if let id = endpoint.id {
                if let earlier = seenIDs[id] {
                    problem(
                        "id already used by \(earlier.endpoint.location) (line \(earlier.idLine ?? earlier.line))",
                        at: Self.join(endpoint.location, "id"), line: current.idLine)
                } else {
                    seenIDs[id] = current
                }
            }
        }
    }

    /// Names standard methods only: a custom method could come from an environment
    /// variable, and messages never echo resolved values.
    private static func describe(_ methods: Set<String>) -> String {
        let standard: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "QUERY"]
        let named = methods.intersection(standard).sorted()
        let others = methods.count - named.count
        switch (named.count, others) {
        case (0, _): return "an overlapping method"
        case (1, 0): return "method \(named[0])"
        case (_, 0): return "methods \(named.joined(separator: ", "))"
        default: return "methods \(named.joined(separator: ", ")) and \(others) other\(others == 1 ? "" : "s")"
        }
    }
}
