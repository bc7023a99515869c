import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// The config text a supervisor last validated, shared with its workers (fd 4 in a
/// worker), so that a worker it starts, restarts or replaces serves that config, not
/// whatever the file on disk says at that moment: a file broken while the instance
/// runs must not keep a crashed or recycled worker from coming back.
///
/// One anonymous file the supervisor rewrites on each reload that validates. Readers
/// and the writer use POSIX record locks, which exclude across processes sharing one
/// open file (unlike `flock`, which is per open file): a worker never reads half of a
/// new version. The text may hold a literal master key; the file has no path and is
/// readable only through the descriptor the supervisor hands out.
package final class ConfigHandover: @unchecked Sendable {
    /// Where a supervised worker finds it.
    package static let workerFD: Int32 = 4

    package let fd: Int32

    /// A new, empty handover (the supervisor's).
    package static func create() -> ConfigHandover? {
        AnonymousFile.create(purpose: "config").map(ConfigHandover.init(fd:))
    }

    /// The handover at `fd` (a worker's), or `nil` when `fd` is not a regular file.
    package convenience init?(inheritedFD fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        self.init(fd: fd)
    }

    private init(fd: Int32) {
        self.fd = fd
    }

    /// Replaces the text. `false` when it could not be written whole.
    @discardableResult
    package func publish(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let done = locked(F_WRLCK) { () -> Bool? in
            ftruncate(fd, 0) == 0
                && Self.transferAll(bytes.count) { offset in
                    bytes[offset...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
                }
        }
        return done == true
    }

    /// The text last published, or `nil` when it cannot be read.
    package func read() -> String? {
        locked(F_RDLCK) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
            let whole = Self.transferAll(bytes.count) { offset in
                bytes[offset...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            }
            return whole ? String(validating: bytes, as: UTF8.self) : nil
        }
    }

    /// Calls `transfer` (a pread or pwrite from an offset) until `count` bytes have moved.
    private static func transferAll(_ count: Int, _ transfer: (_ offset: Int) -> Int) -> Bool {
        var offset = 0
        while offset < count {
            let moved = transfer(offset)
            if moved < 0 && errno == EINTR { continue }
            guard moved > 0 else { return false }
            offset += moved
        }
        return true
    }

    private func locked<T>(_ type: Int32, _ body: () -> T?) -> T? {
        var lock = flock()
        lock.l_type = Int16(type)
        lock.l_whence = Int16(SEEK_SET)
        while fcntl(fd, F_SETLKW, &lock) != 0 {
            guard errno == EINTR else { return nil }
        }
        defer {
            lock.l_type = Int16(F_UNLCK)
            _ = fcntl(fd, F_SETLK, &lock)
        }
        return body()
    }
}
