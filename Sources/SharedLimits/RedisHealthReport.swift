import GatewayCore
import Operations

/// Says whether Redis is reachable: the `shared_store_up{store="redis"}` gauge, a
/// warning naming the store when it goes down and at least once a minute while it stays
/// down, and a line when it is back.
final class RedisHealthReport: Sendable {
    private let address: RedisAddress
    private let logger: Logger
    private let metrics: Metrics?
    private let unreachable: ThrottledWarning
    private let wasUp = Locked<Bool?>(nil)

    init(address: RedisAddress, failure: SharedStateSettings.Failure, logger: Logger, metrics: Metrics?) {
        self.address = address
        self.logger = logger
        self.metrics = metrics
        let meanwhile =
            failure == .open
            ? "key limits are counted per host meanwhile" : "key-limited requests are answered 503 meanwhile"
        unreachable = ThrottledWarning(
            "shared store redis unreachable: \(meanwhile)", logger: logger, interval: .seconds(60))
    }

    /// Called on every change and every second by the keeper; `reason` is the last
    /// failure's (hiredis's text: never the password).
    func report(up: Bool, reason: String) {
        metrics?.sharedStore("redis", up: up)
        let previous = wasUp.withLock { state -> Bool? in
            defer { state = up }
            return state
        }
        if up {
            if previous == false {
                logger.info("shared store redis reachable again: key limits are shared", ["store": address.display])
            }
        } else {
            unreachable.note([("store", address.display), ("reason", reason)])
        }
    }
}
