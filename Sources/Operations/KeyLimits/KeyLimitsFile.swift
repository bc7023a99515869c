#if canImport(Glibc)
    import Glibc
#endif

/// Opening, checking and mapping the key limits file that unrelated gateway processes
/// share (docs/ARCHITECTURE.md, "Linux: a table shared by unrelated processes").
///
/// Everything between `open` and the end of initialisation runs under an exclusive
/// `flock` on the file, so when several processes start at once exactly one of them
/// initialises it and the others find a valid header. After that the flock is dropped:
/// requests are counted under the table's own mutex.
enum KeyLimitsFile {
    /// The file mapped `MAP_SHARED`, its header valid for this boot and this layout.
    static func map(path: String) throws(KeyLimitsFileError) -> UnsafeMutableRawPointer {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        func fail(_ call: String) -> KeyLimitsFileError { .systemCall(path: path, call: call, errno: errno) }

        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw fail("flock") }
        }
        // Closing the descriptor would not drop the lock: the mapping keeps the open file
        // description, and the flock with it, alive.
        defer { flock(fd, LOCK_UN) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw fail("fstat") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
        guard status.st_uid == geteuid() else { throw .ownedByAnotherUser(path: path, owner: status.st_uid) }
        if status.st_mode & 0o077 != 0 {
            guard fchmod(fd, 0o600) == 0 else { throw fail("fchmod") }
        }

        let bootID = KeyLimitsHeader.currentBootID()
        let size = KeyLimitsLayout.size
        var valid = false
        if Int(status.st_size) == size {
            var header = [UInt8](repeating: 0, count: KeyLimitsLayout.headerSize)
            let count = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            valid =
                count == header.count
                && header.withUnsafeMutableBytes { KeyLimitsHeader(base: $0.baseAddress!).isValid(bootID: bootID) }
        }
        if !valid {
            // Truncating to zero first clears every page, and keeps the file sparse.
            guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(size)) == 0 else { throw fail("ftruncate") }
        }
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw fail("mmap")
        }
        if !valid {
            let result = KeyLimitsHeader(base: mapped).initialise(bootID: bootID)
            guard result == 0 else {
                munmap(mapped, size)
                throw .systemCall(path: path, call: "pthread_mutex_init", errno: result)
            }
        }
        return mapped
    }

    /// A table in shared anonymous memory: for tests, and for a process with no file.
    /// It is shared only with children forked after it was made.
    static func mapAnonymous() -> UnsafeMutableRawPointer {
        let size = KeyLimitsLayout.size
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else { fatalError("cannot map \(size) bytes for the key limits table: errno \(errno)") }
        let result = KeyLimitsHeader(base: mapped).initialise(bootID: KeyLimitsHeader.currentBootID())
        precondition(result == 0, "cannot set up the key limits table's mutex: errno \(result)")
        return mapped
    }
}
