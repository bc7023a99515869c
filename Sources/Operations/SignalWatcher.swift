import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Write end of the self-pipe the signal handler writes to; set once before the handler is installed.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

/// Watches SIGTERM/SIGINT (stop) and SIGHUP (reload) on a dedicated thread.
///
/// The handlers are installed with sigaction before `start()` returns, and `start()`
/// runs before the socket exists, so a signal sent the moment the gateway accepts
/// connections is never lost (a DispatchSource signal source is armed asynchronously,
/// and libfcgi's own SIGTERM handler would silently stop accepting). The handler only
/// writes the signal number to a pipe.
package final class SignalWatcher: @unchecked Sendable {
    package enum Wake {
        /// SIGTERM or SIGINT.
        case stop
        /// The process asked to end itself (a worker's request budget is spent).
        case retire
    }

    /// Runs on the watcher thread for each SIGHUP.
    let onReload: @Sendable () -> Void
    /// Runs on the watcher thread for every stop signal, with the count so far.
    let onStop: (@Sendable (_ count: Int) -> Void)?

    private let woken = DispatchSemaphore(value: 0)
    private let firstWake = Locked<Wake?>(nil)
    private let stopCount = Atomic<Int>(0)

    package init(onStop: (@Sendable (_ count: Int) -> Void)? = nil, onReload: @escaping @Sendable () -> Void) {
        self.onStop = onStop
        self.onReload = onReload
    }

    package static let watched = [SIGTERM, SIGINT, SIGHUP]

    /// Stop signals received so far.
    package var stops: Int { stopCount.load(ordering: .relaxed) }

    package func start() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        signalPipeWriteFD = fds[1]
        let readFD = fds[0]
        for signo in Self.watched {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in
                var byte = UInt8(truncatingIfNeeded: signo)
                _ = write(signalPipeWriteFD, &byte, 1)  // async-signal-safe
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signo, &action, nil)
        }
        // A supervisor starts its workers with these blocked; anything that arrived
        // meanwhile is delivered now, to the handlers above.
        var watchedSet = sigset_t()
        sigemptyset(&watchedSet)
        for signo in Self.watched { sigaddset(&watchedSet, signo) }
        pthread_sigmask(SIG_UNBLOCK, &watchedSet, nil)
        let thread = Thread { [self] in watch(readFD) }
        thread.name = "fcgi-signals"
        thread.start()
    }

    /// Ends `waitForStopOrRetirement()` with `.retire` (unless a stop came first).
    package func requestRetirement() { wake(.retire) }

    /// Blocks until the first stop signal or retirement request, and says which came first.
    package func waitForStopOrRetirement() -> Wake {
        woken.wait()
        return firstWake.withLock { $0 } ?? .stop
    }

    private func wake(_ reason: Wake) {
        let first = firstWake.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        if first { woken.signal() }
    }

    private func watch(_ fd: Int32) {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            if Int32(byte) == SIGHUP {
                onReload()
                continue
            }
            let count = stopCount.add(1, ordering: .relaxed).newValue
            onStop?(count)
            wake(.stop)
        }
    }
}
