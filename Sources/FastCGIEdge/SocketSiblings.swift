import GatewayCore

/// The other processes serving the same listening socket (a supervisor's workers), as
/// far as admission control needs them: a process with every thread busy must not
/// refuse a connection that a sibling with a free thread is about to take (LIFE-01).
public protocol SocketSiblings: Sendable {
    /// Publishes how many of this process's threads could take a connection now.
    func publishIdleThreads(_ count: Int)
    /// Whether another process has a thread free now.
    func haveIdleThreads() -> Bool
}
