/// Who a request was authenticated as: what the request record, its log line and its
/// metrics carry.
public enum Caller: Sendable, Equatable {
    /// Nobody had to show a key: the endpoint is public, or no master key is set.
    case anonymous
    /// The master key.
    case masterKey
}
