/// Why a connection is answered 503 instead of served.
public enum RefusalReason: String, Sendable, CaseIterable {
    /// Every worker thread was busy (LIFE-01).
    case busy
    /// The instance was stopping, and no thread freed up for a connection still queued (LIFE-02).
    case draining

    public var error: GatewayError {
        switch self {
        case .busy: .unavailable("The gateway is at capacity: every worker thread is busy. Retry shortly.")
        case .draining: .unavailable("The gateway is restarting. Retry shortly.")
        }
    }
}
