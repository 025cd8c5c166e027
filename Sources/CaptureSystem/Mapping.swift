#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// One mmap(2) region with one owner; munmap(2) on `unmap()` or deinit.
public final class Mapping: @unchecked Sendable {
    // @unchecked: the base address and length never change after init; the memory behind
    // them is shared by design and synchronised by the ring's seqlock, not by this class.
    public let base: UnsafeMutableRawPointer
    public let length: Int
    public let writable: Bool
    private var mapped = true

    public struct Protection: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let read = Protection(rawValue: PROT_READ)
        public static let write = Protection(rawValue: PROT_WRITE)
    }

    /// mmap(NULL, length, prot, MAP_SHARED, fd, 0).
    public init(sharing fd: FileDescriptor, length: Int, protection: Protection, populate: Bool = false) throws {
        var flags = MAP_SHARED
        if populate { flags |= MAP_POPULATE }
        let p = mmap(nil, length, protection.rawValue, flags, fd.raw, 0)
        if p == MAP_FAILED || p == nil {
            throw SystemError("mmap(\(length) bytes, \(protection.contains(.write) ? "PROT_READ|PROT_WRITE" : "PROT_READ"), MAP_SHARED)")
        }
        base = p!
        self.length = length
        writable = protection.contains(.write)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    /// madvise(MADV_POPULATE_WRITE): fault every page in writable now, not on first use.
    public func populateWrite() throws {
        try retryingInterrupts("madvise(MADV_POPULATE_WRITE)") { capture_madvise(base, length, CAPTURE_MADV_POPULATE_WRITE) }
    }

    /// mlock(2) of a sub-range.
    public func lock(offset: Int = 0, length: Int? = nil) throws {
        let len = length ?? self.length - offset
        try retryingInterrupts("mlock(\(len) bytes)") { capture_mlock(base + offset, len) }
    }

    /// mprotect(2) of the whole mapping (clients use it to prove they cannot write).
    public func protect(_ protection: Protection) throws {
        try retryingInterrupts("mprotect") { mprotect(base, length, protection.rawValue) }
    }

    /// mincore(2): how many base pages of the mapping are resident. mincore reports one byte
    /// per base page even for hugetlb mappings, so the vector is sized in base pages.
    public func residentPages() throws -> (resident: Int, total: Int) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (length + pageSize - 1) / pageSize
        var vec = [UInt8](repeating: 0, count: pages)
        try retryingInterrupts("mincore") { mincore(base, length, &vec) }
        return (vec.reduce(0) { $0 + Int($1 & 1) }, pages)
    }

    /// munmap(2). Safe to call more than once.
    public func unmap() {
        if mapped {
            munmap(base, length)
            mapped = false
        }
    }

    deinit { unmap() }
}
