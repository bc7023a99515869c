import Foundation

/// A value that threads share, reached only inside `withLock`.
///
/// Used instead of `Synchronization.Mutex`, whose contended path on Linux (Swift 6.3) is a
/// spin loop and a priority-inheritance futex inside the uninstrumented
/// libswiftSynchronization.so: ThreadSanitizer sees no ordering between two threads that
/// contended for such a mutex and reports every hand-over as a data race, which would
/// bury real ones (`make test-sanitize`). `NSLock` is a pthread mutex, which
/// ThreadSanitizer understands; uncontended, both cost about the same.
///
/// The value lives behind a pointer rather than in a stored `var`: the lock already
/// guarantees exclusive access, and a stored property's dynamic exclusivity tracking
/// gives a `Void` value (a plain lock) a bogus address that ThreadSanitizer reports.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private let storage: UnsafeMutablePointer<Value>

    package init(_ value: Value) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: value)
    }

    deinit {
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&storage.pointee)
    }
}
