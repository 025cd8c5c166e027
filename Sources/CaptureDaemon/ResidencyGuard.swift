#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCaptureShim
import Foundation
import Logging
import Synchronization

/// The userfaultfd residency guard on the daemon's own mapping of each ring (DESIGN.md).
///
/// After populate and mlock nothing in the daemon's mapping should ever fault, so the mapping
/// is registered for MISSING and MINOR faults: any fault is a residency loss, logged at
/// critical with its ring offset, counted, and then resolved so the daemon goes on. The whole
/// mapping is also write-protected where the kernel allows (after creation the daemon never
/// writes the ring: devices do), so a stray write is caught. Remove/unmap events mean the ring is being torn down under the
/// device. The guard runs on its own thread: a faulting event-loop thread must not wait on
/// itself. UFFD_USER_MODE_ONLY needs no privilege; where the kernel refuses anyway, the guard
/// reports "unavailable: <reason>" and the daemon runs without it.
public final class ResidencyGuard: Sendable {
    /// One guarded ring mapping.
    public final class Region: Sendable {
        public let stream: String
        public let base: UInt64
        public let length: UInt64
        public let faults = Atomic<UInt64>(0)
        public let removes = Atomic<UInt64>(0)
        public let writeProtected: Bool

        init(stream: String, base: UInt64, length: UInt64, writeProtected: Bool) {
            self.stream = stream
            self.base = base
            self.length = length
            self.writeProtected = writeProtected
        }
    }

    private let uffd: FileDescriptor?
    private let features: UInt64
    /// nil when active, else why the guard is not running.
    public let unavailableReason: String?
    private let regions = Locked<[Region]>([])
    private let wake: EventCounter
    private let finished: EventCounter
    private let running = Atomic<Bool>(false)
    private let logger: Logger

    public init(logger: Logger) throws {
        self.logger = logger
        wake = try EventCounter()
        finished = try EventCounter()
        var features: UInt64 = 0
        var err: Int32 = 0
        var call: UnsafePointer<CChar>?
        let fd = capture_uffd_open(&features, &err, &call)
        if fd < 0 {
            uffd = nil
            self.features = 0
            let name = call.map { String(cString: $0) } ?? "userfaultfd"
            unavailableReason = SystemError(name, errno: err).description
        } else {
            uffd = FileDescriptor(owning: fd)
            self.features = features
            unavailableReason = nil
        }
    }

    public var isActive: Bool { uffd != nil && unavailableReason == nil }

    /// Registers the daemon's mapping of `ring`. Returns nil on success, else why not (the
    /// ring is then simply unguarded).
    public func guardRing(_ ring: Ring, isHugetlb: Bool) -> String? {
        guard let uffd else { return unavailableReason }
        var modes = CAPTURE_UFFD_MODE_MISSING
        let minor = isHugetlb ? capture_uffd_feature_minor_hugetlbfs() : capture_uffd_feature_minor_shmem()
        if features & minor != 0 { modes |= CAPTURE_UFFD_MODE_MINOR }
        let wp = features & capture_uffd_feature_wp_shmem() != 0
        if wp { modes |= CAPTURE_UFFD_MODE_WP }
        let base = ring.mapping.base
        let length = UInt64(ring.mapping.length)
        if capture_uffd_register(uffd.raw, base, length, modes) != 0 {
            return SystemError("ioctl(UFFDIO_REGISTER, \(length) bytes)").description
        }
        var protected = false
        if wp && ring.mapping.writable {
            // The daemon never writes a ring after creating it (devices write descriptors and
            // payload through their own mappings or pins), so its whole mapping is protected.
            protected = capture_uffd_writeprotect(uffd.raw, base, length, 1) == 0
            if !protected {
                logger.notice("residency guard: slot write-protection unavailable", metadata: ["stream": "\(ring.stream)", "error": "\(SystemError("ioctl(UFFDIO_WRITEPROTECT)"))"])
            }
        }
        let region = Region(stream: ring.stream, base: UInt64(UInt(bitPattern: base)), length: length, writeProtected: protected)
        regions.withLock { $0.append(region) }
        return nil
    }

    /// UFFDIO_UNREGISTER of a ring's mapping, before it is unmapped on purpose: an unmap of a
    /// guarded range would otherwise be reported (and would wait for this thread).
    public func unguard(_ ring: Ring) {
        let base = UInt64(UInt(bitPattern: ring.mapping.base))
        let removed = regions.withLock { list -> Bool in
            let before = list.count
            list.removeAll { $0.base == base }
            return list.count != before
        }
        if removed, let uffd { _ = capture_uffd_unregister(uffd.raw, ring.mapping.base, UInt64(ring.mapping.length)) }
    }

    public func region(for stream: String) -> Region? {
        regions.withLock { $0.first { $0.stream == stream } }
    }

    /// Starts the guard thread.
    public func start() {
        guard uffd != nil, !running.load(ordering: .acquiring) else { return }
        running.store(true, ordering: .releasing)
        let thread = Thread { [self] in self.run() }
        thread.name = "capture-guard"
        thread.start()
    }

    /// Stops the thread and closes the userfaultfd, which drops every registration.
    public func close() {
        if running.exchange(false, ordering: .acquiringAndReleasing) {
            wake.signal()
            _ = finished.wait(timeoutNanoseconds: 2_000_000_000)
        }
        regions.withLock { $0.removeAll() }
        uffd?.close()
    }

    private func run() {
        defer { finished.signal() }
        guard let uffd else { return }
        var fds = [pollfd(fd: uffd.raw, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.fd.raw, events: Int16(POLLIN), revents: 0)]
        while running.load(ordering: .acquiring) {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; return }
            if fds[1].revents != 0 { wake.drain() }
            var event = capture_uffd_event()
            while capture_uffd_read(uffd.raw, &event) == 1 { handle(event, uffd: uffd) }
        }
    }

    private func handle(_ event: capture_uffd_event, uffd: FileDescriptor) {
        let found = regions.withLock { list in list.first { event.address >= $0.base && event.address < $0.base + $0.length } }
        switch event.kind {
        case 1:
            let page = event.address & ~UInt64(systemPageSize - 1)
            guard let region = found else {
                _ = capture_uffd_zeropage(uffd.raw, page, UInt64(systemPageSize))
                return
            }
            region.faults.add(1, ordering: .relaxed)
            let offset = event.address - region.base
            if event.fault_flags & CAPTURE_UFFD_FAULT_WP != 0 {
                logger.critical("residency guard: the daemon wrote to its ring, which only devices write", metadata: [
                    "stream": "\(region.stream)", "ring_offset": "\(offset)", "message_id": "\(MessageID.residencyFault)"])
                _ = capture_uffd_writeprotect(uffd.raw, UnsafeMutableRawPointer(bitPattern: UInt(page)), UInt64(systemPageSize), 0)
            } else {
                let kind = event.fault_flags & CAPTURE_UFFD_FAULT_MINOR != 0 ? "minor" : "missing"
                logger.critical("residency guard: ring page was not resident (\(kind) fault)", metadata: [
                    "stream": "\(region.stream)", "ring_offset": "\(offset)", "message_id": "\(MessageID.residencyFault)"])
                if event.fault_flags & CAPTURE_UFFD_FAULT_MINOR != 0 {
                    _ = capture_uffd_continue(uffd.raw, page, UInt64(systemPageSize))
                } else {
                    _ = capture_uffd_zeropage(uffd.raw, page, UInt64(systemPageSize))
                }
            }
        case 2, 3:
            guard let region = found else { return }
            region.removes.add(1, ordering: .relaxed)
            logger.critical("residency guard: ring pages \(event.kind == 2 ? "removed" : "unmapped") under the device", metadata: [
                "stream": "\(region.stream)", "ring_offset": "\(event.address - region.base)", "bytes": "\(event.end - event.address)"])
        default:
            break
        }
    }
}
