import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// Answers connections that no worker thread can take with 503 and `Retry-After`
/// (LIFE-01), without forwarding anything and without holding a worker thread.
///
/// One thread serves every such connection at once with `poll()`: it reads the
/// request's records (`FastCGIRequestScanner`), discarding the body up to a bound
/// (nginx sends the whole request at once, having buffered the body), then writes the
/// answer as complete FastCGI records and closes. Each connection gets a deadline, so
/// a peer that sends nothing cannot keep its place. At most `capacity` connections are
/// held; beyond that the acceptor waits, and new connections wait in the socket's queue.
final class OverloadResponder: @unchecked Sendable {
    static let capacity = 256
    static let deadline: Duration = .seconds(2)
    /// Read per connection per round, so one large body does not hold up the others.
    private static let readsPerRound = 16

    private struct Connection {
        let reason: RefusalReason
        let deadline: ContinuousClock.Instant
        var scanner = FastCGIRequestScanner()
    }

    private let incoming = Locked<(connections: [(fd: Int32, reason: RefusalReason)], finished: Bool)>(([], false))
    private let wake = WakePipe()
    /// Counted up from zero, like FastCGIServer's idle threads (libdispatch traps when a
    /// semaphore is freed below its initial value).
    private let room = DispatchSemaphore(value: 0)
    /// Body bytes discarded before answering anyway (nginx may then see a reset).
    private let bodyLimit: Int
    private let onAnswered: @Sendable (RefusalReason) -> Void

    init(maxBodyBytes: Int, onAnswered: @escaping @Sendable (RefusalReason) -> Void) {
        // Room for nginx's client_max_body_size being a little above --max-body-size.
        self.bodyLimit = maxBodyBytes + (1 << 20)
        self.onAnswered = onAnswered
        for _ in 0..<Self.capacity { room.signal() }
    }

    /// Blocks until one more connection can be taken on. Follow with `answer` or `releaseRoom`.
    func reserveRoom() { room.wait() }

    func releaseRoom() { room.signal() }

    /// Takes on an accepted connection, for which room was reserved.
    func answer(_ fd: Int32, _ reason: RefusalReason) {
        incoming.withLock { $0.connections.append((fd, reason)) }
        wake.signal()
    }

    /// No more connections will come: `run()` returns once those taken on are answered.
    package func finish() {
        incoming.withLock { $0.finished = true }
        wake.signal()
    }

    /// The responder thread's body.
    func run() {
        var open: [Int32: Connection] = [:]
        while true {
            wake.drain()
            let (new, finished) = incoming.withLock { state in
                defer { state.connections.removeAll() }
                return (state.connections, state.finished)
            }
            var now = ContinuousClock.now
            for (fd, reason) in new {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                open[fd] = Connection(reason: reason, deadline: now + Self.deadline)
            }
            if finished && open.isEmpty { return }
            var fds = [pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)]
            fds += open.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let timeout = open.values.map(\.deadline).min().map { Self.milliseconds(until: $0, from: now) } ?? -1
            if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR { usleep(10_000) }
            for pfd in fds.dropFirst() where pfd.revents != 0 {
                guard var connection = open[pfd.fd] else { continue }
                let readable = read(pfd.fd, into: &connection.scanner)
                open[pfd.fd] = connection
                if connection.scanner.state == .complete || connection.scanner.bodyBytes > bodyLimit {
                    respond(pfd.fd, connection)
                } else if !readable || connection.scanner.state == .abandoned {
                    hangUp(pfd.fd)
                } else {
                    continue
                }
                open[pfd.fd] = nil
            }
            now = .now
            for (fd, connection) in open where connection.deadline <= now {
                // Late or silent: answer what can be answered (a request id is needed).
                if connection.scanner.requestID != nil { respond(fd, connection) } else { hangUp(fd) }
                open[fd] = nil
            }
        }
    }

    /// Feeds what is readable now to the scanner; `false` when the peer closed or failed.
    private func read(_ fd: Int32, into scanner: inout FastCGIRequestScanner) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for _ in 0..<Self.readsPerRound {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                scanner.consume(buffer[..<count])
                if scanner.state != .reading { return true }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
            return false
        }
        return true
    }

    private func respond(_ fd: Int32, _ connection: Connection) {
        let scanner = connection.scanner
        if let id = scanner.requestID {
            let requestID = scanner.parameters.gatewayRequest().requestID ?? UUID().uuidString.asciiLowercased
            let response = CGIResponse.Buffer()
            response.write(connection.reason.error, requestID: requestID)
            let records = FastCGIRecord.response(requestID: id, stdout: response.bytes)
            // A few hundred bytes into a fresh socket's empty send buffer: never blocks.
            _ = records.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            onAnswered(connection.reason)
        }
        hangUp(fd)
    }

    private func hangUp(_ fd: Int32) {
        close(fd)
        room.signal()
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (deadline - now).components
        return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
    }
}
