#if canImport(Glibc)
    import Glibc
#endif

/// A pthread mutex inside the shared table that every process mapping it can lock
/// (`PTHREAD_PROCESS_SHARED`) and that outlives a holder killed while holding it
/// (`PTHREAD_MUTEX_ROBUST`).
///
/// When its holder dies, the next `lock` gets `EOWNERDEAD`: it owns the mutex, and the
/// dead process may have left one update half done. The table's updates are a few
/// counters, and the worst half-done one is a count off by one, which leases and the
/// window repair on their own; so the mutex is marked consistent and work goes on
/// (docs/ARCHITECTURE.md, "Linux: a table shared by unrelated processes").
struct RobustMutex {
    let pointer: UnsafeMutablePointer<pthread_mutex_t>

    init(at address: UnsafeMutableRawPointer) {
        pointer = address.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Sets up the mutex in memory no other process can be locking (a fresh mapping,
    /// or a file being initialised under its flock). Returns 0 or an error number.
    static func initialise(at address: UnsafeMutableRawPointer) -> Int32 {
        var attributes = pthread_mutexattr_t()
        var result = pthread_mutexattr_init(&attributes)
        guard result == 0 else { return result }
        defer { pthread_mutexattr_destroy(&attributes) }
        result = pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
        if result == 0 { result = pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST)) }
        if result == 0 {
            result = pthread_mutex_init(address.bindMemory(to: pthread_mutex_t.self, capacity: 1), &attributes)
        }
        return result
    }

    /// `false` when the mutex cannot be had (`ENOTRECOVERABLE`, or memory that holds no
    /// mutex): the caller fails open.
    func lock() -> Bool {
        switch pthread_mutex_lock(pointer) {
        case 0:
            return true
        case EOWNERDEAD:
            guard pthread_mutex_consistent(pointer) == 0 else {
                pthread_mutex_unlock(pointer)
                return false
            }
            return true
        default:
            return false
        }
    }

    func unlock() {
        pthread_mutex_unlock(pointer)
    }
}
