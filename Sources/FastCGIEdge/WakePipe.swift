import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// A pipe that wakes a thread blocked in `poll()`: the thread polls `readFD` next to its
/// sockets, and any other thread calls `signal()`.
///
/// Both ends are non-blocking: a signal never blocks when nobody drains the pipe (one
/// unread byte is enough to wake the poller), and draining stops when it is empty.
final class WakePipe: @unchecked Sendable {
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Empties the pipe, so the next `poll()` blocks until the next `signal()`.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }
}
