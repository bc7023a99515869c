import Foundation
import GatewayCore
import Operations

/// A serving process's handle on the host-wide key limit table (docs/KEYS.md): opened
/// at start when a key has limits, or by the first reload that gives one a limit, and
/// swept every second so slots held by a worker that died are given back.
final class KeyLimitsHolder: Sendable {
    private let configPath: String
    private let logger: Logger
    /// The open table and the `limits_file` it was opened for (`nil`: the default).
    private let state = Locked<(table: SharedKeyLimits?, configured: String?)>((nil, nil))
    private let tableFull: ThrottledWarning
    private let lockFailures: ThrottledWarning

    init(configPath: String, logger: Logger) {
        self.configPath = configPath
        self.logger = logger
        tableFull = ThrottledWarning(
            "the key limits table is full: requests of keys it cannot hold go unlimited", logger: logger,
            interval: .seconds(60))
        lockFailures = ThrottledWarning(
            "cannot lock the key limits table: requests go unlimited meanwhile", logger: logger, interval: .seconds(60))
    }

    /// The open table, if any.
    var table: SharedKeyLimits? { state.withLock { $0.table } }

    /// The limiter for `config`: the open table, opened now if `config` is the first to
    /// need one; `nil` when no key has limits and none was ever opened.
    /// - Throws: when a table is needed and cannot be opened; the caller refuses to
    ///   start, or rejects the reload, rather than serve limited keys without limits.
    func limiter(for config: GatewayConfig) throws(KeyLimitsLocation.OpenFailure) -> SharedKeyLimits? {
        let (table, configured) = state.withLock { ($0.table, $0.configured) }
        if let table {
            if config.limitsFile != configured {
                logger.warning("a limits_file change takes effect when the gateway restarts")
            }
            return table
        }
        guard let opened = try KeyLimitsLocation.open(for: config, configPath: configPath) else { return nil }
        state.withLock { $0 = (opened, config.limitsFile) }
        return opened
    }

    /// Starts the thread that gives back dead workers' slots and reports the table's
    /// fail-open events. Admitting a key at its parallel limit also reclaims, so the
    /// sweep only bounds how long a dead worker's slot can block a key below its limit.
    func startSweeping() {
        let thread = Thread { [self] in
            var seen = (full: 0, lock: 0)
            while true {
                Thread.sleep(forTimeInterval: 1)
                guard let table = state.withLock({ $0.table }) else { continue }
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
