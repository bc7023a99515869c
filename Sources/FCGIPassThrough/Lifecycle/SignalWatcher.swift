import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Write end of the self-pipe the signal handler writes to; set once before the handler is installed.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

/// Turns SIGTERM/SIGINT/SIGHUP into callbacks on a dedicated thread.
///
/// The handlers are installed with sigaction before `start()` returns, so a signal sent
/// the moment the gateway reports ready is never lost (a DispatchSource signal source
/// is armed asynchronously). The handler only writes the signal number to a pipe.
final class SignalWatcher: @unchecked Sendable {
    /// Called on every stop signal; `true` from the second one on.
    var onStop: (@Sendable (_ repeated: Bool) -> Void)?
    var onReload: (@Sendable () -> Void)?

    private let stopped = DispatchSemaphore(value: 0)

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
        var stops = 0
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            if Int32(byte) == SIGHUP {
                onReload?()
                continue
            }
            stops += 1
            onStop?(stops > 1)
            if stops == 1 { stopped.signal() }
        }
    }

    func waitForStop() { stopped.wait() }
}
