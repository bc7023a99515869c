internal import CFCGI
import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Waits for connections on the listening socket and takes them one at a time; can be
/// told to stop at any moment.
///
/// The listening socket may be shared with other worker processes, so stopping must
/// not touch it (a `shutdown()` would stop every process): the acceptor waits in
/// `poll()` on the socket and a wake-up pipe instead of blocking in `accept()`, and
/// the socket is non-blocking so a connection another process took first costs only
/// an `EAGAIN`. Waiting and taking are separate steps, so the caller decides between
/// them whether it has a thread for the connection (`FastCGIServer`).
final class ConnectionAcceptor: @unchecked Sendable {
    enum Event {
        /// A connection is waiting (another process may still take it first).
        case connectionWaiting
        /// The socket's owner shut it down: no new connection can arrive, but those
        /// already queued can still be accepted (Linux, Unix sockets).
        case closedToNewConnections
        case stopped
    }

    private let listenFD: Int32
    private let wake = WakePipe()
    private let stopped = Atomic<Bool>(false)

    /// Told the errno of an accept() that failed for lack of resources.
    private let onFailure: (@Sendable (Int32) -> Void)?

    init(listenFD: Int32, onFailure: (@Sendable (Int32) -> Void)? = nil) {
        self.listenFD = listenFD
        self.onFailure = onFailure
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
    }

    /// Acquiring: what the stopping thread set before `stop()` (whether to take what is
    /// queued, whether the process is going away) is seen by whoever sees the stop.
    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Makes `waitForConnection()` return `.stopped` now and from then on. Safe from any thread.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    /// Blocks until a connection is waiting, the socket is shut, or `stop()`.
    func waitForConnection() -> Event {
        while !isStopped {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN) | pollReadHangUp, revents: 0),
                pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                usleep(50_000)  // transient (ENOMEM): back off rather than spin
                continue
            }
            if isStopped || fds[1].revents != 0 { break }
            let events = fds[0].revents
            if events & Int16(POLLNVAL) != 0 {
                stop()
                break
            }
            // A shut-down Unix listener polls readable for good; it is told apart by RDHUP.
            if events & pollReadHangUp != 0 { return .closedToNewConnections }
            if events != 0 { return .connectionWaiting }
        }
        return .stopped
    }

    /// Whether a connection is queued right now (always true once the socket is shut).
    func hasQueuedConnection() -> Bool {
        var fd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) > 0
    }

    /// The next queued connection (a blocking, close-on-exec fd), or `nil` when none is
    /// queued (another process took it, or the client left while queued). Works after
    /// `stop()` too: stopping only ends the waiting.
    func acceptQueued() -> Int32? {
        while true {
            // Linux's accept() does not carry O_NONBLOCK over: the connection blocks.
            // Close-on-exec: workers spawned later must not hold it.
            let fd = accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            if fd >= 0 { return fd }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO:
                continue
            case EAGAIN, EWOULDBLOCK:
                return nil
            case EINVAL:
                stop()  // a TCP listener was shut down: its queue is gone with it
                return nil
            default:
                // EMFILE, ENFILE, ENOBUFS: the connection stays queued, nginx waits for it;
                // say so, then give descriptors a moment to free up.
                onFailure?(errno)
                usleep(50_000)
                return nil
            }
        }
    }
}
