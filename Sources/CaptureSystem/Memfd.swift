#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// memfd_create(2) and seals (fcntl F_ADD_SEALS / F_GET_SEALS).
public enum Memfd {
    public enum HugePage: Sendable, Equatable {
        case size2M, size1G
        public var bytes: Int { self == .size2M ? 2 << 20 : 1 << 30 }
        /// As capture.toml and the status document name it.
        public var name: String { self == .size2M ? "2M" : "1G" }
        var flag: UInt32 { self == .size2M ? CAPTURE_MFD_HUGE_2MB : CAPTURE_MFD_HUGE_1GB }
    }

    public struct Seals: OptionSet, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let seal = Seals(rawValue: CAPTURE_F_SEAL_SEAL)
        public static let shrink = Seals(rawValue: CAPTURE_F_SEAL_SHRINK)
        public static let grow = Seals(rawValue: CAPTURE_F_SEAL_GROW)
        public static let write = Seals(rawValue: CAPTURE_F_SEAL_WRITE)
        public static let futureWrite = Seals(rawValue: CAPTURE_F_SEAL_FUTURE_WRITE)
        /// F_SEAL_EXEC, which MFD_NOEXEC_SEAL adds on Linux 6.3+.
        public static let exec = Seals(rawValue: CAPTURE_F_SEAL_EXEC)
        /// What a ring carries once it leaves the daemon (docs/ARCHITECTURE.md, "The ring").
        public static let ring: Seals = [.shrink, .grow, .futureWrite, .seal]

        public var description: String {
            var names: [String] = []
            if contains(.shrink) { names.append("SHRINK") }
            if contains(.grow) { names.append("GROW") }
            if contains(.write) { names.append("WRITE") }
            if contains(.futureWrite) { names.append("FUTURE_WRITE") }
            if contains(.seal) { names.append("SEAL") }
            if contains(.exec) { names.append("EXEC") }
            return names.isEmpty ? "none" : names.joined(separator: "|")
        }
    }

    /// memfd_create(name, MFD_CLOEXEC|MFD_ALLOW_SEALING[|MFD_NOEXEC_SEAL][|MFD_HUGETLB]).
    /// MFD_NOEXEC_SEAL is asked for and dropped on kernels older than 6.3 that refuse it.
    public static func create(name: String, hugePage: HugePage?) throws -> FileDescriptor {
        var flags = CAPTURE_MFD_CLOEXEC | CAPTURE_MFD_ALLOW_SEALING
        if let hugePage { flags |= CAPTURE_MFD_HUGETLB | hugePage.flag }
        var fd = capture_memfd_create(name, flags | CAPTURE_MFD_NOEXEC_SEAL)
        if fd < 0 && errno == EINVAL { fd = capture_memfd_create(name, flags) }
        if fd < 0 {
            let err = SystemError("memfd_create(\(name)\(hugePage != nil ? ", MFD_HUGETLB" : ""))")
            if hugePage != nil {
                throw err.hinting("the kernel has no hugetlbfs for this page size; set ring.hugepages = \"none\" or enable hugepages")
            }
            throw err
        }
        return FileDescriptor(owning: fd)
    }

    /// ftruncate(2): the ring's one and only size change.
    public static func setSize(_ fd: FileDescriptor, bytes: Int) throws {
        try retryingInterrupts("ftruncate(\(bytes) bytes)") { ftruncate(fd.raw, off_t(bytes)) }
    }

    /// fcntl(F_ADD_SEALS).
    public static func addSeals(_ fd: FileDescriptor, _ seals: Seals) throws {
        try retryingInterrupts("fcntl(F_ADD_SEALS, \(seals))") { capture_add_seals(fd.raw, seals.rawValue) }
    }

    /// open("/proc/self/fd/N", O_RDONLY | O_CLOEXEC): a new open file description of the same
    /// memfd, read-only, so whoever gets it shares no file offset or status flags with the
    /// daemon or with anyone else, and cannot map it writable even without the seals.
    public static func reopenReadOnly(_ fd: FileDescriptor) throws -> FileDescriptor {
        let raw = try retryingInterrupts("open(/proc/self/fd/\(fd.raw), O_RDONLY)") { open("/proc/self/fd/\(fd.raw)", O_RDONLY | O_CLOEXEC) }
        return FileDescriptor(owning: raw)
    }

    /// fcntl(F_GET_SEALS).
    public static func seals(_ fd: FileDescriptor) throws -> Seals {
        let s = capture_get_seals(fd.raw)
        if s < 0 { throw SystemError("fcntl(F_GET_SEALS)") }
        return Seals(rawValue: s)
    }
}

/// getrlimit(RLIMIT_MEMLOCK); nil means unlimited.
public func memlockLimit() -> (soft: UInt64?, hard: UInt64?) {
    var soft: UInt64 = 0, hard: UInt64 = 0
    if capture_memlock_limit(&soft, &hard) != 0 { return (nil, nil) }
    return (soft == UInt64.max ? nil : soft, hard == UInt64.max ? nil : hard)
}

/// The system page size.
public let systemPageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

/// CLOCK_MONOTONIC in nanoseconds.
public func monotonicNanoseconds() -> UInt64 { capture_monotonic_ns() }
