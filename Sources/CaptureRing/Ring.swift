#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim
import CaptureSystem
import Foundation

/// How hard the daemon insists on locking a ring in memory.
public enum LockPolicy: String, Sendable, Codable {
    /// Refuse to start when the whole ring cannot be locked (kernel devices: always).
    case required
    /// Lock what RLIMIT_MEMLOCK allows, warn once, run (synthetic streams only).
    case bestEffort = "best-effort"
}

/// Why a ring could not be made; each case says what the operator can do.
public enum RingError: Error, CustomStringConvertible, Equatable {
    case memlockTooLow(stream: String, needed: Int, limit: UInt64?, underlying: SystemError)
    case hugepagesUnavailable(stream: String, needed: Int, free: Int, pageBytes: Int)
    case notARing(String)

    public var description: String {
        switch self {
        case let .memlockTooLow(stream, needed, limit, underlying):
            let lim = limit.map { "\($0) bytes" } ?? "unlimited"
            return "stream \(stream): cannot lock its ring of \(needed) bytes in memory (\(underlying)); "
                + "RLIMIT_MEMLOCK is \(lim). Give captured LimitMEMLOCK=infinity (systemd) or CAP_IPC_LOCK, "
                + "or raise `ulimit -l` to at least \(needed / 1024) KiB; ring.lock = \"best-effort\" runs unlocked (synthetic streams only)"
        case let .hugepagesUnavailable(stream, needed, free, pageBytes):
            return "stream \(stream): its ring needs \(needed) hugepages of \(pageBytes >> 20) MiB but only \(free) are free; "
                + "reserve them with `sysctl vm.nr_hugepages=\(needed)` (or more), or set ring.hugepages = \"none\""
        case let .notARing(why):
            return "not a capture ring: \(why)"
        }
    }
}

/// The daemon's ring: one memfd, sized once, mapped read-write by the daemon, populated and
/// locked before anyone sees it, sealed before the fd first leaves the process.
///
/// Acquire: `Ring.create`. Release: `close()` (or deinit) unmaps and closes the memfd; a
/// client's mapping keeps the pages alive until it unmaps too.
public final class Ring {
    public let stream: String
    public let geometry: RingGeometry
    public let memfd: FileDescriptor
    /// The daemon's own mapping. The daemon writes the header and initial descriptors through
    /// it once, at `create`; after that only devices write the ring (through their own
    /// mappings or pins) and the residency guard write-protects this mapping.
    public let mapping: Mapping
    public let payloadFormat: PayloadFormat
    public let format: FrameFormat
    public private(set) var lockedBytes = 0
    public private(set) var isSealed = false
    /// Set when best-effort locking fell short; logged once by the caller.
    public private(set) var lockWarning: String?

    private init(stream: String, geometry: RingGeometry, memfd: FileDescriptor, mapping: Mapping, payloadFormat: PayloadFormat, format: FrameFormat) {
        self.stream = stream
        self.geometry = geometry
        self.memfd = memfd
        self.mapping = mapping
        self.payloadFormat = payloadFormat
        self.format = format
    }

    /// memfd_create, ftruncate once, mmap MAP_SHARED read-write, MADV_POPULATE_WRITE, mlock,
    /// then the header and descriptors. Not yet sealed: the device must map or pin it first.
    public static func create(stream: String, geometry: RingGeometry, hugePage: Memfd.HugePage?,
                              lock: LockPolicy, payloadFormat: PayloadFormat, format: FrameFormat = .opaque) throws -> Ring {
        if let hugePage { try checkHugepages(stream: stream, geometry: geometry, hugePage: hugePage) }
        let fd = try Memfd.create(name: "capture-ring-\(stream)", hugePage: hugePage)
        try Memfd.setSize(fd, bytes: geometry.ringBytes)
        // The size is final now; a kernel driver checks these two seals before it pins.
        try Memfd.addSeals(fd, [.shrink, .grow])
        let mapping = try Mapping(sharing: fd, length: geometry.ringBytes, protection: [.read, .write])
        do {
            try mapping.populateWrite()
        } catch let error as SystemError where hugePage != nil {
            throw error.hinting("not enough free hugepages; raise vm.nr_hugepages")
        }
        let ring = Ring(stream: stream, geometry: geometry, memfd: fd, mapping: mapping, payloadFormat: payloadFormat, format: format)
        try ring.lockMemory(policy: lock)
        ring.writeHeader()
        return ring
    }

    /// Takes back a ring a previous daemon created (from systemd's fd store). It is sealed, so
    /// the mapping is read-only — the daemon never writes a ring after creating it anyway. The
    /// header must match `geometry` and `payloadFormat`, else the ring is not reused.
    public static func adopt(stream: String, memfd: FileDescriptor, geometry: RingGeometry,
                             payloadFormat: PayloadFormat, format: FrameFormat = .opaque) throws -> Ring {
        let reader = try RingReader(memfd: memfd)
        guard reader.geometry == geometry, reader.payloadFormat == payloadFormat, reader.stream == stream, reader.format == format else {
            throw RingError.notARing("the stored ring of \(stream) has another geometry or format than the configuration")
        }
        let ring = Ring(stream: stream, geometry: geometry, memfd: memfd, mapping: reader.mapping, payloadFormat: payloadFormat, format: format)
        ring.isSealed = (try? Memfd.seals(memfd).isSuperset(of: Memfd.Seals.ring)) ?? false
        try ring.lockMemory(policy: .required)
        return ring
    }

    private static func checkHugepages(stream: String, geometry: RingGeometry, hugePage: Memfd.HugePage) throws {
        let kb = hugePage.bytes / 1024
        let path = "/sys/kernel/mm/hugepages/hugepages-\(kb)kB/free_hugepages"
        let needed = geometry.ringBytes / hugePage.bytes
        let free = readInteger(path) ?? 0
        if free < needed {
            throw RingError.hugepagesUnavailable(stream: stream, needed: needed, free: free, pageBytes: hugePage.bytes)
        }
    }

    private func lockMemory(policy: LockPolicy) throws {
        // Header and descriptors first, then slot by slot: best effort locks as much as it can.
        var regions = [(0, geometry.slotsOffset)]
        for slot in 0..<geometry.slotCount { regions.append((geometry.slotOffset(slot), geometry.slotStride)) }
        for (offset, length) in regions {
            do {
                try mapping.lock(offset: offset, length: length)
                lockedBytes += length
            } catch let error as SystemError {
                let limit = memlockLimit().soft
                let failure = RingError.memlockTooLow(stream: stream, needed: geometry.ringBytes, limit: limit, underlying: error)
                if policy == .required { throw failure }
                lockWarning = "\(failure); running with \(lockedBytes) of \(geometry.ringBytes) bytes locked"
                return
            }
        }
    }

    private func writeHeader() {
        let h = mapping.base
        func put<T: FixedWidthInteger>(_ offset: Int, _ value: T) { (h + offset).storeBytes(of: value.littleEndian, as: T.self) }
        put(RingLayout.Header.version, RingLayout.version)
        put(RingLayout.Header.headerBytes, UInt32(RingLayout.headerBytes))
        put(RingLayout.Header.slotCount, UInt32(geometry.slotCount))
        put(RingLayout.Header.descriptorBytes, UInt32(RingLayout.descriptorBytes))
        put(RingLayout.Header.descriptorsOffset, UInt64(geometry.descriptorsOffset))
        put(RingLayout.Header.slotsOffset, UInt64(geometry.slotsOffset))
        put(RingLayout.Header.slotStride, UInt64(geometry.slotStride))
        put(RingLayout.Header.frameBytes, UInt64(geometry.frameBytes))
        put(RingLayout.Header.ringBytes, UInt64(geometry.ringBytes))
        put(RingLayout.Header.payloadFormat, payloadFormat.rawValue)
        put(RingLayout.Header.pageBytes, UInt32(geometry.pageBytes))
        let name = Array(stream.utf8.prefix(31))
        for (i, byte) in name.enumerated() { (h + RingLayout.Header.streamName + i).storeBytes(of: byte, as: UInt8.self) }
        format.write(to: h + RingLayout.Header.format)
        for slot in 0..<geometry.slotCount { descriptor(slot).initialise(slotOffset: geometry.slotOffset(slot)) }
        capture_store_relaxed_u64(h + RingLayout.Header.headSequence, 0)
        // The magic last: a half-written header is never mistaken for a ring.
        capture_store_release_u64(h + RingLayout.Header.magic, RingLayout.magic)
    }

    /// fcntl(F_ADD_SEALS, SHRINK|GROW|FUTURE_WRITE|SEAL): after this no new writable mapping
    /// can be made; the daemon's and the device's existing ones keep working.
    public func seal() throws {
        guard !isSealed else { return }
        try Memfd.addSeals(memfd, Memfd.Seals.ring)
        isSealed = true
    }

    public func descriptor(_ slot: Int) -> SlotDescriptor {
        SlotDescriptor(base: mapping.base + geometry.descriptorOffset(slot))
    }

    /// Bytes of the daemon's mapping of this ring that are resident (mincore).
    public func residentBytes() throws -> Int {
        try mapping.residentPages().resident * systemPageSize
    }

    public func close() {
        mapping.unmap()
        memfd.close()
    }
}

func readInteger(_ path: String) -> Int? {
    readWholeFile(path).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}
