import Foundation
import GatewayCore

/// Counts requests answered 503 unserved, and says so in the log at most once a second
/// per reason: under overload a line per refusal would flood the log when it matters
/// most. Each line carries the refusals since the previous one; /metrics has the total.
package final class RefusalReporter: Sendable {
    static let interval: Duration = .seconds(1)

    private let metrics: Metrics
    private let logger: Logger
    private let threads: Int
    /// Per reason: when the last line was written, and refusals since.
    private let pending = Locked<[RefusalReason: (logged: ContinuousClock.Instant, count: Int)]>([:])

    package init(metrics: Metrics, logger: Logger, threads: Int) {
        self.metrics = metrics
        self.logger = logger
        self.threads = threads
    }

    package func refused(_ reason: RefusalReason) {
        metrics.requestRefused(reason)
        let now = ContinuousClock.now
        let due = pending.withLock { table -> Int? in
            guard let entry = table[reason], now - entry.logged < Self.interval else {
                let count = (table[reason]?.count ?? 0) + 1
                table[reason] = (now, 0)
                return count
            }
            table[reason] = (entry.logged, entry.count + 1)
            return nil
        }
        guard let due else { return }
        let message =
            switch reason {
            case .busy: "every worker thread is busy: answered 503 with Retry-After"
            case .draining: "stopping: answered 503 to queued requests no thread freed up for"
            }
        logger.warning(message, ["refused": String(due), "threads": String(threads), "reason": reason.rawValue])
    }
}
