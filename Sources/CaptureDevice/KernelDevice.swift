#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCaptureShim
import CCaptureUAPI

/// A capture device behind the capture_dma char driver (/dev/captureN), driven through the
/// ioctl ABI of driver/uapi/capture_dma.h. The driver pins the daemon's own mapping of the
/// ring at `attach`; closing the device unregisters and unpins.
public final class KernelDevice: RecyclingDevice, HolderRegistry, @unchecked Sendable {
    public let name: String
    public let engine: String
    private let fd: FileDescriptor
    private let frameRate: Double
    private let payload: PayloadFormat
    /// Set once the ring is known (attach, or adopt); the driver reads the same descriptors.
    public private(set) var holds: SlotHolds?
    public private(set) var recycles = false
    /// Adopted running without recycling: the daemon keeps queueing slots (CAPTURE_IOC_STATS).
    public private(set) var mayRecycle = true
    public var outlivesDaemon: Bool { true }

    /// open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) and CAPTURE_IOC_INFO.
    public convenience init(path: String, frameRate: Double, payload: PayloadFormat) throws {
        let raw = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        if raw < 0 {
            let err = SystemError("open(\(path))")
            switch err.errno {
            case ENOENT, ENXIO, ENODEV: throw err.hinting("no such capture device; is the driver loaded (modprobe capture_dma)?")
            case EACCES: throw err.hinting("run captured as a member of group capture (the udev rule gives /dev/capture* to it)")
            case EBUSY: throw err.hinting("another process owns the device (only one captured may open it)")
            default: throw err
            }
        }
        try self.init(adopting: FileDescriptor(owning: raw), path: path, frameRate: frameRate, payload: payload)
    }

    /// A device already open — handed back by systemd's fd store after a restart, with its
    /// ring still registered and pinned.
    public init(adopting fd: FileDescriptor, path: String, frameRate: Double, payload: PayloadFormat) throws {
        try fd.setNonBlocking()
        self.fd = fd
        name = path
        self.frameRate = frameRate
        self.payload = payload
        var info = capture_info()
        try Self.ioctl(fd, capture_ioc_info(), &info, "CAPTURE_IOC_INFO")
        guard info.abi_version == UInt32(CAPTURE_DMA_ABI_VERSION) else {
            throw SystemError("CAPTURE_IOC_INFO", errno: EPROTO,
                              hint: "\(path) speaks driver ABI \(info.abi_version), captured speaks \(CAPTURE_DMA_ABI_VERSION); install matching versions")
        }
        engine = withUnsafeBytes(of: info.engine_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // Doorbells and holds pages a previous daemon registered belong to its clients: they
        // keep working while those clients reconnect, until retirePredecessors() drops them.
        var bells = capture_doorbell(fd: -1, op: UInt32(CAPTURE_DOORBELL_RETIRE))
        _ = withUnsafeMutablePointer(to: &bells) { capture_ioctl(fd.raw, capture_ioc_doorbell(), $0) }
        var pages = capture_holder()
        pages.op = UInt32(CAPTURE_HOLDER_RETIRE)
        _ = withUnsafeMutablePointer(to: &pages) { capture_ioctl(fd.raw, capture_ioc_holder(), $0) }
        var st = capture_stats()
        if (try? Self.ioctl(fd, capture_ioc_stats(), &st, "CAPTURE_IOC_STATS")) != nil, st.pinned_pages > 0 {
            // A ring already there: it recycles, or it never will.
            recycles = st.recycling != 0
            mayRecycle = recycles
        }
    }

    /// CAPTURE_IOC_DOORBELL and CAPTURE_IOC_HOLDER (DROP_RETIRED): the previous daemon's
    /// clients have had their grace; their doorbells and holds go.
    public func dropPredecessors() {
        var bells = capture_doorbell(fd: -1, op: UInt32(CAPTURE_DOORBELL_DROP_RETIRED))
        _ = withUnsafeMutablePointer(to: &bells) { capture_ioctl(fd.raw, capture_ioc_doorbell(), $0) }
        var pages = capture_holder()
        pages.op = UInt32(CAPTURE_HOLDER_DROP_RETIRED)
        _ = withUnsafeMutablePointer(to: &pages) { capture_ioctl(fd.raw, capture_ioc_holder(), $0) }
    }

    /// The ring whose slots the daemon's holds count (CAPTURE_IOC_HOLD): the one registered
    /// (attach), or the one a previous daemon registered (adopt).
    public func use(ring: Ring) {
        holds = SlotHolds(slotCount: ring.geometry.slotCount, registry: self)
    }

    // MARK: RecyclingDevice

    /// From the next start on, the driver recycles the queued slots itself (CAPTURE_START_RECYCLE).
    public func recycleSlots() { recycles = true }

    // MARK: HolderRegistry

    /// CAPTURE_IOC_HOLD: the driver counts the daemon's holds on a slot under its lock (-1, 0:
    /// none on any slot).
    public func holdSlot(_ slot: Int, delta: Int32) throws {
        var req = capture_hold()
        req.slot = slot < 0 ? CAPTURE_HOLD_ALL_SLOTS : UInt32(slot)
        req.delta = delta
        try Self.ioctl(fd, capture_ioc_hold(), &req, "CAPTURE_IOC_HOLD")
    }

    /// CAPTURE_IOC_HOLDER (ADD): the driver pins the page (the daemon's mapping of it).
    public func registerHolder(id: UInt32, page: HoldsPage, limit: Int) throws {
        var req = capture_holder()
        req.op = UInt32(CAPTURE_HOLDER_ADD)
        req.id = id
        req.user_address = UInt64(UInt(bitPattern: page.mapping.base))
        req.limit = UInt32(limit)
        try Self.ioctl(fd, capture_ioc_holder(), &req, "CAPTURE_IOC_HOLDER(ADD)")
    }

    /// CAPTURE_IOC_HOLDER (REMOVE): the driver forgets and unpins the page.
    public func unregisterHolder(id: UInt32) {
        var req = capture_holder()
        req.op = UInt32(CAPTURE_HOLDER_REMOVE)
        req.id = id
        _ = withUnsafeMutablePointer(to: &req) { capture_ioctl(fd.raw, capture_ioc_holder(), $0) }
    }

    /// CAPTURE_IOC_HOLDER (REVOKE): holds below `sequence` no longer count.
    public func revokeHolder(id: UInt32, below sequence: UInt64) {
        var req = capture_holder()
        req.op = UInt32(CAPTURE_HOLDER_REVOKE)
        req.id = id
        req.void_below = sequence
        _ = withUnsafeMutablePointer(to: &req) { capture_ioctl(fd.raw, capture_ioc_holder(), $0) }
    }

    private static func ioctl<T>(_ fd: FileDescriptor, _ request: UInt, _ arg: inout T, _ name: String) throws {
        while true {
            let r = withUnsafeMutablePointer(to: &arg) { capture_ioctl(fd.raw, request, $0) }
            if r >= 0 { return }
            if errno == EINTR { continue }
            throw SystemError("ioctl(\(name))")
        }
    }

    /// CAPTURE_IOC_REGISTER_RING: the driver checks the seals and the mapping, then pins.
    public func attach(ring: Ring) throws {
        var req = capture_register()
        req.memfd = ring.memfd.raw
        req.slot_count = UInt32(ring.geometry.slotCount)
        req.user_address = UInt64(UInt(bitPattern: ring.mapping.base))
        req.ring_bytes = UInt64(ring.geometry.ringBytes)
        req.slots_offset = UInt64(ring.geometry.slotsOffset)
        req.slot_stride = UInt64(ring.geometry.slotStride)
        req.frame_bytes = UInt64(ring.geometry.frameBytes)
        req.layout_version = RingLayout.version
        req.descriptor_bytes = UInt32(RingLayout.descriptorBytes)
        req.descriptors_offset = UInt64(ring.geometry.descriptorsOffset)
        do {
            try Self.ioctl(fd, capture_ioc_register_ring(), &req, "CAPTURE_IOC_REGISTER_RING")
        } catch let e as SystemError {
            throw e.hinting("the driver refused the ring of stream \(ring.stream); dmesg says why")
        }
        use(ring: ring)
    }

    public func queue(_ slots: [UInt32]) throws {
        var copy = slots
        try copy.withUnsafeMutableBufferPointer { buf in
            var req = capture_queue()
            req.count = UInt32(buf.count)
            req.slots = UInt64(UInt(bitPattern: buf.baseAddress))
            try Self.ioctl(fd, capture_ioc_queue(), &req, "CAPTURE_IOC_QUEUE")
        }
    }

    public var completionDescriptor: FileDescriptor { fd }

    /// CAPTURE_IOC_SLOTS: who holds each slot (CAPTURE_SLOT_*), for a restarted daemon.
    public func slotStates(count: Int) throws -> [UInt8] {
        var states = [UInt8](repeating: 0, count: count)
        try states.withUnsafeMutableBufferPointer { buf in
            var req = capture_slots()
            req.count = UInt32(count)
            req.states = UInt64(UInt(bitPattern: buf.baseAddress))
            try Self.ioctl(fd, capture_ioc_slots(), &req, "CAPTURE_IOC_SLOTS")
        }
        return states
    }

    public func readCompletions() throws -> [DeviceCompletion] { try DeviceCompletion.drain(fd) }

    /// CAPTURE_IOC_START; a device adopted while running (EBUSY) simply keeps running.
    public func start() throws {
        var req = capture_start()
        req.frame_rate_mhz = UInt32(min(frameRate * 1000, Double(UInt32.max)))
        req.payload = payload.rawValue
        req.flags = recycles ? UInt32(CAPTURE_START_RECYCLE) : 0
        do {
            try Self.ioctl(fd, capture_ioc_start(), &req, "CAPTURE_IOC_START")
        } catch let e as SystemError where e.errno == EBUSY {
            return
        }
    }

    /// The open device, for systemd's fd store.
    public var descriptor: FileDescriptor { fd }

    public func stop() {
        _ = capture_ioctl(fd.raw, capture_ioc_stop(), nil)
    }

    public func stats() -> DeviceStats {
        var st = capture_stats()
        var s = DeviceStats()
        guard (try? Self.ioctl(fd, capture_ioc_stats(), &st, "CAPTURE_IOC_STATS")) != nil else { return s }
        s.frames = st.frames
        s.overruns = st.overruns
        s.errors = st.errors
        s.pinnedPages = st.pinned_pages
        s.scatterGatherEntries = st.sg_entries
        return s
    }

    /// An eventfd registered with CAPTURE_IOC_DOORBELL (ADD): the driver signals it from the
    /// kernel after each frame it publishes (eventfd_signal never waits, whatever the client
    /// does with its copy). nil from a driver without doorbells (ENOTTY) or with its table full.
    /// The driver rings after every frame (`reader` is not used): eventfd_signal costs the
    /// kernel little, and it cannot read the page's `examined` under its lock.
    public func makeDoorbell(reader: HoldsPage?) throws -> Doorbell? {
        let eventfd = try EventCounter()
        var req = capture_doorbell(fd: eventfd.fd.raw, op: UInt32(CAPTURE_DOORBELL_ADD))
        guard withUnsafeMutablePointer(to: &req, { capture_ioctl(fd.raw, capture_ioc_doorbell(), $0) }) == 0 else { return nil }
        return Doorbell(clientEnd: eventfd.fd, writeEnd: nil)
    }

    /// CAPTURE_IOC_DOORBELL (REMOVE); the driver drops its reference to the eventfd.
    public func removeDoorbell(_ bell: Doorbell) {
        var req = capture_doorbell(fd: bell.clientEnd.raw, op: UInt32(CAPTURE_DOORBELL_REMOVE))
        _ = withUnsafeMutablePointer(to: &req) { capture_ioctl(fd.raw, capture_ioc_doorbell(), $0) }
    }

    /// close(2): the driver stops, unpins (marking pages dirty) and forgets the ring.
    public func close() { fd.close() }

    deinit { close() }
}
