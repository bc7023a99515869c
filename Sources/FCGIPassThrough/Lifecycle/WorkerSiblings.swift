import FastCGIEdge
import GatewayCore
import Operations

/// A supervised worker's siblings, seen through the instance's shared region, where each
/// worker publishes its free threads (`MetricsRegion`). The supervisor clears the count
/// of a worker that exits, so a dead one never looks free.
struct WorkerSiblings: SocketSiblings {
    let region: MetricsRegion
    let slot: Int

    func publishIdleThreads(_ count: Int) { region.setIdleThreads(count, slot: slot) }
    func haveIdleThreads() -> Bool { region.othersHaveIdleThreads(than: slot) }
}
