import CCaptureShim

/// userfaultfd(2) on this process's own mappings, with UFFD_USER_MODE_ONLY (no privilege),
/// falling back to /dev/userfaultfd: the residency guard's eyes.
public final class UserFaultFD: Sendable {
    public let fd: FileDescriptor
    public let features: Features

    /// What the kernel granted at UFFDIO_API.
    public struct Features: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let minorShmem = Features(rawValue: capture_uffd_feature_minor_shmem())
        public static let minorHugetlbfs = Features(rawValue: capture_uffd_feature_minor_hugetlbfs())
        public static let writeProtectShmem = Features(rawValue: capture_uffd_feature_wp_shmem())
    }

    /// UFFDIO_REGISTER modes.
    public struct Modes: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let missing = Modes(rawValue: CAPTURE_UFFD_MODE_MISSING)
        public static let writeProtect = Modes(rawValue: CAPTURE_UFFD_MODE_WP)
        public static let minor = Modes(rawValue: CAPTURE_UFFD_MODE_MINOR)
    }

    public enum Event: Sendable, Equatable {
        /// A fault at `address`: a write, a write to a write-protected page, or a minor fault
        /// (the page is in the page cache but not mapped).
        case pageFault(address: UInt64, write: Bool, writeProtect: Bool, minor: Bool)
        /// Pages [start, end) were removed (MADV_DONTNEED, MADV_REMOVE) or unmapped.
        case removed(start: UInt64, end: UInt64)
        case unmapped(start: UInt64, end: UInt64)
        case other
    }

    /// userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY) and UFFDIO_API with the shmem
    /// and hugetlbfs features the kernel has.
    public init() throws {
        var features: UInt64 = 0
        var err: Int32 = 0
        var call: UnsafePointer<CChar>?
        let raw = capture_uffd_open(&features, &err, &call)
        guard raw >= 0 else { throw SystemError(call.map { String(cString: $0) } ?? "userfaultfd", errno: err) }
        fd = FileDescriptor(owning: raw)
        self.features = Features(rawValue: features)
    }

    /// ioctl(UFFDIO_REGISTER).
    public func register(_ start: UnsafeMutableRawPointer, length: Int, modes: Modes) throws {
        try retryingInterrupts("ioctl(UFFDIO_REGISTER, \(length) bytes)") { capture_uffd_register(fd.raw, start, UInt64(length), modes.rawValue) }
    }

    /// ioctl(UFFDIO_UNREGISTER): must precede munmap of a registered range, or munmap waits for
    /// the thread reading events.
    public func unregister(_ start: UnsafeMutableRawPointer, length: Int) {
        _ = capture_uffd_unregister(fd.raw, start, UInt64(length))
    }

    /// ioctl(UFFDIO_WRITEPROTECT), on or off.
    public func writeProtect(_ start: UnsafeMutableRawPointer, length: Int, _ on: Bool) throws {
        try retryingInterrupts("ioctl(UFFDIO_WRITEPROTECT)") { capture_uffd_writeprotect(fd.raw, start, UInt64(length), on ? 1 : 0) }
    }

    /// ioctl(UFFDIO_CONTINUE): maps the page-cache page a minor fault found unmapped.
    public func resolveMinor(page: UInt64, length: Int) {
        _ = capture_uffd_continue(fd.raw, page, UInt64(length))
    }

    /// ioctl(UFFDIO_ZEROPAGE): resolves a missing fault with a zero page.
    public func resolveMissing(page: UInt64, length: Int) {
        _ = capture_uffd_zeropage(fd.raw, page, UInt64(length))
    }

    /// read(2) of one uffd_msg; nil when none is pending.
    public func nextEvent() throws -> Event? {
        var e = capture_uffd_event()
        let r = capture_uffd_read(fd.raw, &e)
        if r < 0 { throw SystemError("read(userfaultfd)") }
        guard r == 1 else { return nil }
        switch Int32(e.kind) {
        case CAPTURE_UFFD_EVENT_PAGEFAULT:
            return .pageFault(address: e.address, write: e.fault_flags & CAPTURE_UFFD_FAULT_WRITE != 0,
                              writeProtect: e.fault_flags & CAPTURE_UFFD_FAULT_WP != 0, minor: e.fault_flags & CAPTURE_UFFD_FAULT_MINOR != 0)
        case CAPTURE_UFFD_EVENT_REMOVE: return .removed(start: e.address, end: e.end)
        case CAPTURE_UFFD_EVENT_UNMAP: return .unmapped(start: e.address, end: e.end)
        default: return .other
        }
    }
}
