import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Turns SIGTERM/SIGINT/SIGHUP into callbacks on a private queue.
final class SignalWatcher: @unchecked Sendable {
    /// Called on every stop signal; `true` from the second one on.
    var onStop: (@Sendable (_ repeated: Bool) -> Void)?
    var onReload: (@Sendable () -> Void)?

    private let queue = DispatchQueue(label: "fcgi-pass-through.signals")
    private var sources: [DispatchSourceSignal] = []
    private var stops = 0
    private let stopped = DispatchSemaphore(value: 0)

    func start() {
        for signo in [SIGTERM, SIGINT, SIGHUP] {
            signal(signo, SIG_IGN)  // delivered through the dispatch source only
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler { [unowned self] in handle(signo) }
            source.resume()
            sources.append(source)
        }
    }

    private func handle(_ signo: Int32) {
        if signo == SIGHUP {
            onReload?()
            return
        }
        stops += 1
        onStop?(stops > 1)
        if stops == 1 { stopped.signal() }
    }

    func waitForStop() { stopped.wait() }
}
