extension TargetURL {
    /// The upstream path for a matched request (docs/BEHAVIOUR.md §2).
    ///
    /// - `nil` subpath (exact match): the target's path as written, even when empty.
    /// - otherwise: the target's path, one `/`, then the subpath as the client encoded it,
    ///   a trailing slash kept. An empty subpath (request `/route/`) yields the target path
    ///   with a trailing `/`.
    ///
    /// `RequestPath` has already refused dot segments, empty segments and encoded
    /// separators, so plain concatenation cannot climb above the target's path, and the
    /// leading `/` keeps a subpath such as `@host` from ever reading as an authority (PATH-04).
    /// Bytes RFC 3986 §3.3 never allows raw (`{`, `|`, space, ...) are escaped; the
    /// client's own escapes are kept byte for byte.
    func path(appending subpath: String?) -> String {
        guard let subpath else { return path }
        let base = path.hasSuffix("/") ? path : path + "/"
        return base + PercentEncoding.encode(subpath.utf8, escaping: PercentEncoding.isDisallowedInURI)
    }
}
