/// Who a request was authenticated as: what the request record, its log line and its
/// metrics carry.
public enum Caller: Sendable, Equatable {
    /// Nobody had to show a key: the endpoint is public, or no master key is set.
    case anonymous
    /// The master key.
    case masterKey
    /// A client's own key (`general_settings.keys`).
    case key(VirtualKey)

    /// The label logs and metrics show: the key's alias, `master_key`, or empty for
    /// nobody. The alias `master_key` is reserved, so the two cannot be confused.
    public var alias: String {
        switch self {
        case .anonymous: ""
        case .masterKey: Self.masterKeyAlias
        case .key(let key): key.alias
        }
    }

    public static let masterKeyAlias = "master_key"

    /// The virtual key, if that is who is calling.
    public var key: VirtualKey? {
        if case .key(let key) = self { return key }
        return nil
    }
}
