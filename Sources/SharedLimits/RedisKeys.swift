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
    static func counters(_ digest: KeyDigest) -> (requests: String, tokens: String, leases: String) {
        let prefix = "\(namespace):{\(digest.hex)}:"
        return (prefix + "requests", prefix + "tokens", prefix + "leases")
    }
}
