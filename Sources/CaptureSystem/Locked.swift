#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex (pthread_mutex_lock(3), pthread_mutex_unlock(3)).
///
/// Synchronization's `Mutex` would do, but on Linux it locks with futexes inside a library
/// built without ThreadSanitizer, so `make test-tsan` would see none of its ordering and
/// report every use as a race; ThreadSanitizer understands pthread mutexes.
public final class Locked<Value> {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock; `body` must not call back into this lock.
    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

// `value` is only touched between lock and unlock of `mutex`.
extension Locked: @unchecked Sendable where Value: Sendable {}
