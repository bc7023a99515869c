import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Accepts connections on the listening socket only while a worker thread is free,
/// and can be told to stop at any moment.
///
/// The listening socket may be shared with other worker processes, so stopping must
/// not touch it (a `shutdown()` would stop every process): the acceptor waits in
/// `poll()` on the socket and a wake-up pipe instead of blocking in `accept()`, and
/// the socket is non-blocking so a connection another process took first costs only
/// an `EAGAIN`. Accepting only for a free thread leaves waiting connections in the
/// kernel's backlog, where another process can take them.
final class ConnectionAcceptor: @unchecked Sendable {
    private let listenFD: Int32
    private let wake: (read: Int32, write: Int32)
    private let stopped = Atomic<Bool>(false)

    init(listenFD: Int32) {
        self.listenFD = listenFD
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wake = (fds[0], fds[1])
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Makes `accept()` return `nil` now and from then on. Safe from any thread.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// The next connection (a blocking, close-on-exec fd), or `nil` once stopped.
    func accept() -> Int32? {
        while !isStopped {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                usleep(50_000)  // transient (ENOMEM): back off rather than spin
                continue
            }
            if isStopped || fds[1].revents != 0 { return nil }
            if fds[0].revents & Int16(POLLNVAL) != 0 { return nil }
            // Linux's accept() does not carry O_NONBLOCK over: the connection blocks.
            let fd = Glibc.accept(listenFD, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // workers spawned later must not hold it
                return fd
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO:
                continue  // another process took it, or the client left while queued
            case EINVAL:
                return nil  // the listening socket was shut down: the instance is draining
            default:
                usleep(50_000)  // EMFILE, ENFILE, ENOBUFS: wait for resources to free up
            }
        }
        return nil
    }
}
