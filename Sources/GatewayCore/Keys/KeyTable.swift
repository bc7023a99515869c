/// The configured keys, found by digest (authentication) or alias (`/key/info`).
public struct KeyTable: Sendable {
    private let byDigest: [KeyDigest: VirtualKey]
    private let byAlias: [String: VirtualKey]

    /// The config decoder has already refused duplicate digests and aliases.
    public init(_ keys: [VirtualKey]) {
        byDigest = Dictionary(keys.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
        byAlias = Dictionary(keys.map { ($0.alias, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var isEmpty: Bool { byDigest.isEmpty }

    public subscript(digest: KeyDigest) -> VirtualKey? { byDigest[digest] }

    public func key(alias: String) -> VirtualKey? { byAlias[alias] }
}
