import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An unlinked temporary file that holds the body bytes a slow client has not taken yet
/// (`ResponseChannel`, docs/BEHAVIOUR.md §5.5).
///
/// Created in `$TMPDIR` (else /tmp) with mode 0600, unlinked at once and close-on-exec:
/// no path leads to it, and it is gone when its descriptor is closed, crash included.
/// Reads and writes name their offsets (`pread`, `pwrite`), so one thread may append
/// while another reads bytes written earlier.
final class SpoolFile: Sendable {
    let fd: Int32

    /// Why the file could not be made or used: the `errno` text.
    struct Failure: Error, Sendable, Equatable {
        let reason: String

        init(_ operation: String, errno code: Int32) {
            reason = "\(operation): \(String(cString: strerror(code)))"
        }
    }

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// - Parameter directory: where to create it; `nil` is `$TMPDIR`, else /tmp.
    static func create(in directory: String? = nil) -> Result<SpoolFile, Failure> {
        let base = directory ?? Self.defaultDirectory
        var template = Array("\(base)/fcgi-pass-through-spool.XXXXXX".utf8CString)
        // mkstemp: a fresh name, O_EXCL, mode 0600; close-on-exec right after, since the
        // Glibc module has no mkostemp (docs/ARCHITECTURE.md, "Swift: runtime on Linux").
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return .failure(Failure("cannot create a temporary file in \(base)", errno: errno)) }
        let file = SpoolFile(fd: fd)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard unlink(path) == 0 else { return .failure(Failure("cannot unlink a temporary file", errno: errno)) }
        return .success(file)
    }

    static var defaultDirectory: String {
        if let value = getenv("TMPDIR"), value.pointee != 0 { return String(cString: value) }
        return "/tmp"
    }

    /// Writes all of `data` at `offset`.
    func write(_ data: Data, at offset: Int) -> Failure? {
        data.withUnsafeBytes { bytes -> Failure? in
            var done = 0
            while done < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return Failure("cannot write the temporary file", errno: errno)
                }
                done += n
            }
            return nil
        }
    }

    /// Reads exactly `count` bytes from `offset`.
    func read(_ count: Int, at offset: Int) -> Result<Data, Failure> {
        var data = Data(count: count)
        let failure = data.withUnsafeMutableBytes { bytes -> Failure? in
            var done = 0
            while done < count {
                let n = pread(fd, bytes.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return Failure("cannot read the temporary file", errno: errno)
                }
                // Shorter than what was written: the file changed under us.
                if n == 0 { return Failure("cannot read the temporary file", errno: EIO) }
                done += n
            }
            return nil
        }
        if let failure { return .failure(failure) }
        return .success(data)
    }

    /// Empties the file, giving its disk space back.
    func truncate() -> Failure? {
        ftruncate(fd, 0) == 0 ? nil : Failure("cannot truncate the temporary file", errno: errno)
    }

    /// The file's size on disk in bytes.
    var size: Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : -1
    }
}
