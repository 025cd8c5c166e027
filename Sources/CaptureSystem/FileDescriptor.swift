#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An owned file descriptor: exactly one owner, closed by `close()` or, at the latest, on deinit.
public final class FileDescriptor: Sendable, CustomStringConvertible {
    private let state: Atomic<Int32>

    /// Takes ownership of `raw`.
    public init(owning raw: Int32) {
        state = Atomic(raw)
    }

    /// The descriptor number; -1 once closed.
    public var raw: Int32 { state.load(ordering: .acquiring) }
    public var isOpen: Bool { raw >= 0 }

    /// close(2). Safe to call more than once.
    public func close() {
        let fd = state.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    deinit { close() }

    public var description: String { "fd \(raw)" }

    /// fstat(2) size in bytes.
    public func size() throws -> UInt64 {
        var st = stat()
        try retryingInterrupts("fstat") { fstat(raw, &st) }
        return UInt64(st.st_size)
    }

    /// fstat(2) inode number (identifies a ring across fd passing).
    public func inode() throws -> UInt64 {
        var st = stat()
        try retryingInterrupts("fstat") { fstat(raw, &st) }
        return UInt64(st.st_ino)
    }

    /// read(2) into a buffer; returns bytes read, nil for EAGAIN.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        while true {
            let n = Glibc.read(raw, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SystemError("read(\(raw))")
        }
    }

    /// read(2) until a read comes back short, discarding the bytes: resets an eventfd, empties
    /// a pipe. A short read (an eventfd's 8 bytes, a pipe's last bytes) means nothing was left
    /// at that moment, so the read that would fail with EAGAIN is skipped: one syscall per
    /// wake-up. The descriptor must be non-blocking.
    public func drainReadable() {
        withUnsafeTemporaryAllocation(byteCount: 256, alignment: 8) { buffer in
            while Glibc.read(raw, buffer.baseAddress, buffer.count) == buffer.count {}
        }
    }

    /// fcntl(F_DUPFD_CLOEXEC): another descriptor of the same open file description, owned
    /// separately (handed over while this one stays with its owner).
    public func duplicate() throws -> FileDescriptor {
        FileDescriptor(owning: try retryingInterrupts("fcntl(F_DUPFD_CLOEXEC)") { fcntl(raw, F_DUPFD_CLOEXEC, 0) })
    }

    /// fcntl(F_SETFL, O_NONBLOCK).
    public func setNonBlocking() throws {
        let flags = fcntl(raw, F_GETFL)
        if flags < 0 { throw SystemError("fcntl(F_GETFL)") }
        if fcntl(raw, F_SETFL, flags | O_NONBLOCK) < 0 { throw SystemError("fcntl(F_SETFL, O_NONBLOCK)") }
    }
}


/// The number of open descriptors of a process, from /proc/PID/fd.
public func openDescriptorCount(pid: Int32 = getpid()) -> Int? {
    guard let dir = opendir("/proc/\(pid)/fd") else { return nil }
    defer { closedir(dir) }
    var count = 0
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        if name != "." && name != ".." { count += 1 }
    }
    return count - 1 // the descriptor opendir itself holds
}
