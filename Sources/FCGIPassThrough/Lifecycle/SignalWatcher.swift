import Foundation
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
final class SignalWatcher: @unchecked Sendable {
    /// Runs on the watcher thread for each SIGHUP.
    let onReload: @Sendable () -> Void

    private let stopped = DispatchSemaphore(value: 0)
    private let stopCount = Atomic<Int>(0)

    init(onReload: @escaping @Sendable () -> Void) {
        self.onReload = onReload
    }

    /// Stop signals received so far.
    var stops: Int { stopCount.load(ordering: .relaxed) }

    func start() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        signalPipeWriteFD = fds[1]
        let readFD = fds[0]
        for signo in [SIGTERM, SIGINT, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in
                var byte = UInt8(truncatingIfNeeded: signo)
                _ = write(signalPipeWriteFD, &byte, 1)  // async-signal-safe
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signo, &action, nil)
        }
        let thread = Thread { [self] in watch(readFD) }
        thread.name = "fcgi-signals"
        thread.start()
    }

    private func watch(_ fd: Int32) {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            if Int32(byte) == SIGHUP {
                onReload()
            } else if stopCount.add(1, ordering: .relaxed).newValue == 1 {
                stopped.signal()
            }
        }
    }

    /// Blocks until the first stop signal (returns at once if it already came).
    func waitForStop() { stopped.wait() }
}
