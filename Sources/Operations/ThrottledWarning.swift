import GatewayCore

/// A warning that may recur many times a second (a failing system call in a loop): it
/// is written at most once per `interval`, each line carrying how often it happened
/// since the previous one, so the log shows the trouble without drowning in it.
package final class ThrottledWarning: Sendable {
    private let logger: Logger
    private let message: String
    private let interval: Duration
    /// When the last line was written, and occurrences since.
    private let state = Locked<(logged: ContinuousClock.Instant?, count: Int)>((nil, 0))

    package init(_ message: String, logger: Logger, interval: Duration = .seconds(1)) {
        self.logger = logger
        self.message = message
        self.interval = interval
    }

    package func note(_ fields: [(String, String)] = []) {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Int? in
            state.count += 1
            if let logged = state.logged, now - logged < interval { return nil }
            defer { state = (now, 0) }
            return state.count
        }
        guard let due else { return }
        logger.log(.warning, message, fields + [("count", String(due))])
    }
}
