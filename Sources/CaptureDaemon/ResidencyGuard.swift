#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import Foundation
import Logging
import Synchronization

/// The userfaultfd residency guard on the daemon's own mapping of each ring
/// (docs/ARCHITECTURE.md, "The residency guard").
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

    private let uffd: UserFaultFD?
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
        do {
            uffd = try UserFaultFD()
            unavailableReason = nil
        } catch {
            uffd = nil
            unavailableReason = "\(error)"
        }
    }

    public var isActive: Bool { uffd != nil && unavailableReason == nil }

    /// Registers the daemon's mapping of `ring`. Returns nil on success, else why not (the
    /// ring is then simply unguarded).
    public func guardRing(_ ring: Ring, isHugetlb: Bool) -> String? {
        guard let uffd else { return unavailableReason }
        var modes: UserFaultFD.Modes = .missing
        if uffd.features.contains(isHugetlb ? .minorHugetlbfs : .minorShmem) { modes.insert(.minor) }
        let wp = uffd.features.contains(.writeProtectShmem)
        if wp { modes.insert(.writeProtect) }
        let base = ring.mapping.base
        let length = ring.mapping.length
        do { try uffd.register(base, length: length, modes: modes) } catch { return "\(error)" }
        var protected = false
        if wp && ring.mapping.writable {
            // The daemon never writes a ring after creating it (devices write descriptors and
            // payload through their own mappings or pins), so its whole mapping is protected.
            do {
                try uffd.writeProtect(base, length: length, true)
                protected = true
            } catch {
                logger.notice("residency guard: slot write-protection unavailable", metadata: ["stream": "\(ring.stream)", "error": "\(error)"])
            }
        }
        let region = Region(stream: ring.stream, base: UInt64(UInt(bitPattern: base)), length: UInt64(length), writeProtected: protected)
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
        if removed { uffd?.unregister(ring.mapping.base, length: ring.mapping.length) }
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
        uffd?.fd.close()
    }

    private func run() {
        defer { finished.signal() }
        guard let uffd else { return }
        while running.load(ordering: .acquiring) {
            if Poll.readable(uffd.fd, wake.fd, timeoutNanoseconds: -1).second { wake.drain() }
            while let event = try? uffd.nextEvent() { handle(event, uffd: uffd) }
        }
    }

    private func handle(_ event: UserFaultFD.Event, uffd: UserFaultFD) {
        func region(_ address: UInt64) -> Region? {
            regions.withLock { list in list.first { address >= $0.base && address < $0.base + $0.length } }
        }
        switch event {
        case let .pageFault(address, _, writeProtect, minor):
            let page = address & ~UInt64(systemPageSize - 1)
            guard let region = region(address) else {
                uffd.resolveMissing(page: page, length: systemPageSize)
                return
            }
            region.faults.add(1, ordering: .relaxed)
            let offset = address - region.base
            if writeProtect {
                logger.critical("residency guard: the daemon wrote to its ring, which only devices write", metadata: [
                    "stream": "\(region.stream)", "ring_offset": "\(offset)", "message_id": "\(MessageID.residencyFault)"])
                try? uffd.writeProtect(UnsafeMutableRawPointer(bitPattern: UInt(page))!, length: systemPageSize, false)
            } else {
                logger.critical("residency guard: ring page was not resident (\(minor ? "minor" : "missing") fault)", metadata: [
                    "stream": "\(region.stream)", "ring_offset": "\(offset)", "message_id": "\(MessageID.residencyFault)"])
                if minor { uffd.resolveMinor(page: page, length: systemPageSize) } else { uffd.resolveMissing(page: page, length: systemPageSize) }
            }
        case let .removed(start, end), let .unmapped(start, end):
            guard let region = region(start) else { return }
            region.removes.add(1, ordering: .relaxed)
            let what = if case .removed = event { "removed" } else { "unmapped" }
            logger.critical("residency guard: ring pages \(what) under the device", metadata: [
                "stream": "\(region.stream)", "ring_offset": "\(start - region.base)", "bytes": "\(end - start)"])
        case .other:
            break
        }
    }
}
