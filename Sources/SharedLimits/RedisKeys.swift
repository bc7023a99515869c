import GatewayCore

/// Names of the keys' counters in Redis: one namespace for the gateway, and each key's
/// SHA-256 digest, never the key itself.
public enum RedisKeys {
    public static let namespace = "fcgi-pass-through"

    /// `fcgi-pass-through:{<digest hex>}:<what>`: the braces make every counter of one key
    /// hash to the same Redis Cluster slot, so one script can touch them all.
    public static func name(_ digest: KeyDigest, _ what: String) -> String {
        "\(namespace):{\(digest.hex)}:\(what)"
    }

    /// A key's three counters, its digest written out once.
    static func counters(_ digest: KeyDigest) -> Counters {
        let prefix = "\(namespace):{\(digest.hex)}:"
        return Counters(requests: prefix + "requests", tokens: prefix + "tokens", leases: prefix + "leases")
    }

    struct Counters: Sendable {
        let requests: String
        let tokens: String
        let leases: String
    }

    /// Each key's counter names, written once per key rather than once per request.
    /// Keys come from the configuration (at most `KeyTable`'s limit), so it stays small.
    final class Book: Sendable {
        private let names = Locked<[KeyDigest: Counters]>([:])

        func counters(_ digest: KeyDigest) -> Counters {
            if let known = names.withLock({ $0[digest] }) { return known }
            let made = RedisKeys.counters(digest)
            names.withLock { names in
                // Reloads that replace every key would otherwise add up.
                if names.count >= 2 * KeyLimits.maxKeysPerConfig { names.removeAll() }
                names[digest] = made
            }
            return made
        }
    }
}
