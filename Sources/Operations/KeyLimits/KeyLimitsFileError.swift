#if canImport(Glibc)
    import Glibc
#endif

/// Why the key limits file could not be used. The messages name the file and, for a
/// failed system call, the call and the system's text for its error.
package enum KeyLimitsFileError: Error, Equatable, CustomStringConvertible {
    /// `open` failed; `ELOOP` means the path is a symbolic link, which is refused.
    case cannotOpen(path: String, errno: Int32)
    /// A directory, FIFO, device…: only a regular file is mapped.
    case notARegularFile(path: String)
    /// Another user could read or reset the counts, or has its own table there.
    case ownedByAnotherUser(path: String, owner: UInt32)
    /// `flock`, `fstat`, `ftruncate`, `mmap` or the mutex's set-up failed.
    case systemCall(path: String, call: String, errno: Int32)

    package var description: String {
        switch self {
        case .cannotOpen(let path, let code) where code == ELOOP:
            "key limits file \(path): cannot open: \(Self.text(code)) (a symbolic link is refused)"
        case .cannotOpen(let path, let code):
            "key limits file \(path): cannot open: \(Self.text(code))"
        case .notARegularFile(let path):
            "key limits file \(path): not a regular file"
        case .ownedByAnotherUser(let path, let owner):
            "key limits file \(path): owned by uid \(owner), not by this process's user (uid \(geteuid()))"
        case .systemCall(let path, let call, let code):
            "key limits file \(path): \(call) failed: \(Self.text(code))"
        }
    }

    private static func text(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
