import Foundation
import GatewayCore
import Operations
import SharedLimits

/// A serving process's handle on the host-wide key limit table (docs/KEYS.md): opened
/// at start when a key has limits, or by the first reload that gives one a limit, and
/// swept every second so slots held by a worker that died are given back. With Redis
/// configured (docs/SHARED_STATE.md) the limiter is a `RedisLimiter` in front of it.
final class KeyLimitsHolder: Sendable {
    private let configPath: String
    private let logger: Logger
    private let metrics: Metrics?
    /// What was opened, and the settings it was opened for.
    private struct Opened {
        let table: SharedKeyLimits
        let limiter: any KeyLimiter
        /// `limits_file` (`nil`: the default).
        let configured: String?
        let sharedState: SharedStateSettings
    }
    private let state = Locked<Opened?>(nil)
    private let tableFull: ThrottledWarning
    private let lockFailures: ThrottledWarning

    init(configPath: String, logger: Logger, metrics: Metrics? = nil) {
        self.configPath = configPath
        self.logger = logger
        self.metrics = metrics
        tableFull = ThrottledWarning(
            "the key limits table is full: requests of keys it cannot hold go unlimited", logger: logger,
            interval: .seconds(60))
        lockFailures = ThrottledWarning(
            "cannot lock the key limits table: requests go unlimited meanwhile", logger: logger, interval: .seconds(60))
    }

    /// The open table, if any.
    var table: SharedKeyLimits? { state.withLock { $0?.table } }

    /// The limiter for `config`: the open table, opened now if `config` is the first to
    /// need one; `nil` when no key has limits and none was ever opened.
    /// - Throws: when a table is needed and cannot be opened; the caller refuses to
    ///   start, or rejects the reload, rather than serve limited keys without limits.
    func limiter(for config: GatewayConfig) throws(KeyLimitsLocation.OpenFailure) -> (any KeyLimiter)? {
        if let opened = state.withLock({ $0 }) {
            if config.limitsFile != opened.configured {
                logger.warning("a limits_file change takes effect when the gateway restarts")
            }
            let shared = config.sharedState
            if shared.redis != opened.sharedState.redis || shared.failure != opened.sharedState.failure {
                logger.warning("redis_url and shared_state_failure changes take effect when the gateway restarts")
            }
            return opened.limiter
        }
        guard let table = try KeyLimitsLocation.open(for: config, configPath: configPath) else { return nil }
        var limiter: any KeyLimiter = table
        if let address = config.sharedState.redis {
            let redis = RedisLimiter(
                address: address, failure: config.sharedState.failure, host: table, logger: logger, metrics: metrics)
            redis.startKeeping()
            limiter = redis
        }
        let opened = Opened(table: table, limiter: limiter, configured: config.limitsFile, sharedState: config.sharedState)
        state.withLock { $0 = opened }
        return limiter
    }

    /// Starts the thread that gives back dead workers' slots and reports the table's
    /// fail-open events. Admitting a key at its parallel limit also reclaims, so the
    /// sweep only bounds how long a dead worker's slot can block a key below its limit.
    func startSweeping() {
        let thread = Thread { [self] in
            var seen = (full: 0, lock: 0)
            while true {
                Thread.sleep(forTimeInterval: 1)
                guard let table = state.withLock({ $0?.table }) else { continue }
                let reclaimed = table.sweepDeadHolders()
                if reclaimed > 0 {
                    logger.info("gave back key slots held by a process that is gone", ["slots": String(reclaimed)])
                }
                let now = (full: table.tableFullCount, lock: table.lockFailureCount)
                if now.full > seen.full { tableFull.note([("events", String(now.full - seen.full))]) }
                if now.lock > seen.lock { lockFailures.note([("events", String(now.lock - seen.lock))]) }
                seen = now
            }
        }
        thread.name = "key-limits-sweep"
        thread.start()
    }
}
