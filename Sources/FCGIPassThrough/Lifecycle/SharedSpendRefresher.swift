import Dispatch
import Foundation
import GatewayCore
import GatewayCrypto
import Operations

/// Budgets across hosts (docs/SHARED_STATE.md, "Budgets across hosts"): once a second,
/// one process of the host reads from the shared ledger what the other hosts spent in
/// each budgeted key's window, and puts it in the host-wide table, where admission adds
/// it to this host's own spend (exact, charged as each request ends).
///
/// So a key is refused once this host's spend plus the other hosts' spend as last read
/// reaches its budget. What can still go over: the requests in flight on every host when
/// the budget is reached (their cost is known only when they end), plus what the other
/// hosts spent since the last read (one second of refresh, plus their writers' 250 ms).
/// A read that fails keeps the last figure: budgets then hold against the last known
/// spend.
final class SharedSpendRefresher: Sendable {
    /// Other hosts' spend per key alias since a window start; throws when the shared
    /// ledger cannot be read.
    typealias Read = @Sendable (_ since: Double) throws -> [String: Double]

    /// The host-wide table, once one is open (a reload may open the first).
    private let table: @Sendable () -> SharedKeyLimits?
    private let read: Read
    /// The budgeted keys of the config being served.
    private let keys: @Sendable () -> [VirtualKey]
    private let now: @Sendable () -> Double
    /// Whether the last read this process made succeeded (`nil` before the first).
    private let lastReadSucceeded = Locked<Bool?>(nil)

    init(
        table: @escaping @Sendable () -> SharedKeyLimits?, read: @escaping Read, keys: @escaping @Sendable () -> [VirtualKey],
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.table = table
        self.read = read
        self.keys = keys
        self.now = now
    }

    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private let stopping = Locked(false)

    func start() {
        let thread = Thread { [self] in
            while true {
                _ = wake.wait(timeout: .now() + .seconds(1))
                if stopping.withLock({ $0 }) { break }
                refresh()
            }
            OpenSSLThread.releaseState()  // libpq's password exchange used it on this thread
            exited.signal()
        }
        thread.name = "shared-spend"
        thread.start()
    }

    /// Stops the thread, waiting for a read in progress to end: libpq (and the OpenSSL
    /// under its password exchange) must not be in use while the process exits and
    /// OpenSSL's exit handler frees its locks.
    func stop(timeout: Duration = .seconds(6)) {
        let first = stopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        wake.signal()
        _ = exited.wait(timeout: .now() + .milliseconds(Int(timeout.seconds * 1000)))
    }

    /// One refresh, if this process takes it this second. Returns the keys updated.
    @discardableResult
    func refresh() -> Int {
        let budgeted = keys().filter { $0.limits.budget != nil }
        guard !budgeted.isEmpty, let table = table(), table.claimSharedSpendRefresh() else { return 0 }
        let second = Int(now())
        // One read per window start: keys with the same `budget_duration` share it.
        var byWindow: [Int: [VirtualKey]] = [:]
        for key in budgeted {
            guard let budget = key.limits.budget else { continue }
            byWindow[budget.windowStart(at: second), default: []].append(key)
        }
        var updated = 0
        for (windowStart, keys) in byWindow {
            guard let spent = try? read(Double(windowStart)) else {
                lastReadSucceeded.withLock { $0 = false }
                continue
            }
            lastReadSucceeded.withLock { $0 = true }
            for key in keys {
                table.setOtherHostsSpend(key.digest, limits: key.limits, windowStart: windowStart, spend: spent[key.alias] ?? 0)
                updated += 1
            }
        }
        return updated
    }

    var readSucceeded: Bool? { lastReadSucceeded.withLock { $0 } }
}
