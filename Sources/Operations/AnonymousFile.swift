import Foundation
import GatewayCore

#if canImport(Glibc)
    import Glibc
#endif

/// A file in shared memory that no path leads to: created under /dev/shm, unlinked at
/// once, alive while a process holds its descriptor. A supervisor passes such files to
/// the workers it starts (metrics region, config handover); nothing else can open them.
enum AnonymousFile {
    /// Descriptors handed to workers are numbered from here up.
    static let lowestFD: Int32 = 10

    /// A new empty file (mode 0600, close-on-exec), or `nil` when /dev/shm is unusable.
    ///
    /// Its descriptor is `lowestFD` or above: workers receive these files at fixed low
    /// numbers (3, 4), placed by posix_spawn's dup2 actions in order, and a file whose
    /// own number is one of those would be overwritten by an earlier action.
    package static func create(purpose: String) -> Int32? {
        let path = "/dev/shm/fcgi-pass-through-\(purpose)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let opened = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard opened >= 0 else { return nil }
        unlink(path)
        let fd = fcntl(opened, F_DUPFD_CLOEXEC, lowestFD)
        close(opened)
        return fd >= 0 ? fd : nil
    }
}
