import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// The socket the gateway accepts FastCGI connections on (docs/BEHAVIOUR.md §7).
public struct ListenSocket: Sendable {
    public enum Address: Sendable, Equatable {
        /// Inherited on fd 0 (spawn-fcgi, systemd `StandardInput=socket`).
        case inherited
        case unix(path: String)
        case tcp(host: String, port: UInt16)

        /// Parses `unix:/path` or `tcp:HOST:PORT` (`tcp:[::1]:9000` for IPv6).
        public init?(parsing text: String) {
            if text.hasPrefix("unix:") {
                let path = String(text.dropFirst(5))
                guard path.hasPrefix("/") || path.hasPrefix("."), path.utf8.count < 108 else { return nil }
                self = .unix(path: path)
            } else if text.hasPrefix("tcp:") {
                let rest = text.dropFirst(4)
                guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]),
                    port > 0
                else { return nil }
                var host = String(rest[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                guard !host.isEmpty else { return nil }
                self = .tcp(host: host, port: port)
            } else {
                return nil
            }
        }

        /// The address as `init(parsing:)` reads it; `-` for the inherited socket.
        public var description: String {
            switch self {
            case .inherited: "-"
            case .unix(let path): "unix:" + path
            case .tcp(let host, let port): host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
            }
        }
    }

    public let fd: Int32
    public let address: Address
    /// Device and inode of the socket file we created, to remove it on exit only if it is still ours.
    private let createdFile: (dev: UInt64, ino: UInt64)?

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens the listening socket. A Unix socket file left by a dead process is replaced;
    /// one that still accepts connections belongs to a live instance and is refused.
    /// The listen() backlog: connections the kernel queues before refusing more (LIFE-01
    /// asks ≥ 1024; Linux caps it at net.core.somaxconn). With admission control they wait
    /// only a moment, so a full queue means the process stopped taking connections at all.
    public static let defaultBacklog = 1024

    public static func open(_ address: Address, mode: mode_t = 0o666, backlog: Int32 = Int32(defaultBacklog)) throws(Failure)
        -> ListenSocket
    {
        switch address {
        case .inherited:
            var type: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            var listening: Int32 = 0
            var listeningLength = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &length) == 0,
                getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &listeningLength) == 0, listening != 0
            else {
                throw Failure(description: "no --socket given and standard input is not a listening socket")
            }
            return ListenSocket(fd: 0, address: address, createdFile: nil)
        case .unix(let path):
            return try openUnix(path: path, mode: mode, backlog: backlog)
        case .tcp(let host, let port):
            return try openTCP(host: host, port: port, backlog: backlog)
        }
    }

    private static func openUnix(path: String, mode: mode_t, backlog: Int32) throws(Failure) -> ListenSocket {
        if Self.socketAcceptsConnections(path: path) {
            throw Failure(description: "\(path) is in use by another running process")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw Failure(description: "\(path) exists and is not a socket")
            }
            unlink(path)  // stale: its process is gone (connect was refused)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure(description: "bind \(path): \(message)")
        }
        // nginx workers usually run as another user; without access they fail with a silent 502.
        chmod(path, mode)
        guard listen(fd, backlog) == 0, stat(path, &st) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            unlink(path)
            throw Failure(description: "listen \(path): \(message)")
        }
        return ListenSocket(fd: fd, address: .unix(path: path), createdFile: (UInt64(st.st_dev), UInt64(st.st_ino)))
    }

    private static func openTCP(host: String, port: UInt16, backlog: Int32) throws(Failure) -> ListenSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw Failure(description: "cannot resolve listen address \(host)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, backlog) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure(description: "listen \(host):\(port): \(message)")
        }
        return ListenSocket(fd: fd, address: .tcp(host: host, port: port), createdFile: nil)
    }

    /// True when something is accepting connections on the Unix socket at `path`.
    static func socketAcceptsConnections(path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// Stops new connections reaching this socket, keeping those already queued, which
    /// the caller then accepts (LIFE-02): nginx's connect fails, so the snippet retries
    /// another instance, and no request it already handed over is lost.
    ///
    /// A Unix socket's file is removed (connects fail with ENOENT, and a new instance
    /// may create the path at once), then the socket is shut for reading, which refuses
    /// a connect that found the file just before (Linux keeps the queue of a shut Unix
    /// listener acceptable). A TCP socket cannot refuse new connections and keep its
    /// queue (a shutdown resets every queued connection): it is left as it is, and the
    /// caller closes it right after taking what is queued. An inherited socket is left
    /// alone: it belongs to whoever passed it (systemd keeps it across restarts, and
    /// connections waiting in its queue are the next process's).
    public func refuseNewConnections() {
        guard case .unix = address else { return }
        removeFileIfOurs()
        shutdown(fd, Int32(SHUT_RD))
    }

    /// Closes the socket and removes its file if it is still the one we created
    /// (a newer process may have replaced it).
    public func close() {
        _ = Glibc.close(fd)
        removeFileIfOurs()
    }

    private func removeFileIfOurs() {
        guard case .unix(let path) = address, let createdFile else { return }
        var st = stat()
        if lstat(path, &st) == 0, UInt64(st.st_dev) == createdFile.dev, UInt64(st.st_ino) == createdFile.ino {
            unlink(path)
        }
    }
}
