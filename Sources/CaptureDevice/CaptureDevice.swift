import CaptureRing
import CaptureSystem
import CCaptureUAPI

/// One completed frame as a device reports it: `struct capture_completion`, the record read(2)
/// returns from /dev/captureN (driver/uapi/capture_dma.h).
public struct DeviceCompletion: Sendable, Equatable {
    public var slot: UInt32
    public var flags: FrameFlags
    public var bytes: UInt64
    /// The device's own frame counter; a gap means the device lost frames (overrun).
    public var sequence: UInt64
    public var timestampNanoseconds: UInt64
    public var checksum: UInt32

    public init(slot: UInt32, flags: FrameFlags, bytes: UInt64, sequence: UInt64, timestampNanoseconds: UInt64, checksum: UInt32) {
        self.slot = slot
        self.flags = flags
        self.bytes = bytes
        self.sequence = sequence
        self.timestampNanoseconds = timestampNanoseconds
        self.checksum = checksum
    }

    init(_ c: capture_completion) {
        self.init(slot: c.slot, flags: FrameFlags(rawValue: c.flags), bytes: c.bytes, sequence: c.sequence,
                  timestampNanoseconds: c.timestamp_ns, checksum: c.checksum)
    }

    /// Reads every whole record waiting on a non-blocking descriptor (a /dev/captureN fd):
    /// read(2) until it would block or comes up short.
    public static func drain(_ fd: FileDescriptor) throws -> [DeviceCompletion] {
        var result: [DeviceCompletion] = []
        var records = [capture_completion](repeating: capture_completion(), count: 256)
        let size = MemoryLayout<capture_completion>.stride
        while true {
            guard let n = try records.withUnsafeMutableBytes({ try fd.read(into: $0) }), n > 0 else { break }
            result += records[0..<(n / size)].map(DeviceCompletion.init)
            if n < records.count * size { break }
        }
        return result
    }
}

/// What a device reports about itself (the driver's STATS ioctl).
public struct DeviceStats: Sendable, Equatable {
    public var frames: UInt64 = 0
    /// Frames the device had to throw away because no slot was queued.
    public var overruns: UInt64 = 0
    public var errors: UInt64 = 0
    public var pinnedPages: UInt64 = 0
    public var scatterGatherEntries: UInt64 = 0
    public init() {}
}

/// The contract every device backend honours, the kernel char device and the synthetic one
/// alike, so the daemon has one path:
///
/// 1. `attach(ring:)` before the ring is sealed (the device maps or pins it then);
/// 2. `queue(_:)` hands free slots to the device — the device fills only queued slots, in the
///    order they were queued. The device owns the slot descriptors: when it starts on a slot it
///    makes the generation odd before it changes a byte (until then the frame that was there
///    stays readable), and publishes the descriptor (generation even) and the ring head when
///    the frame is complete;
/// 3. `completionDescriptor` becomes readable when frames complete; `readCompletions()`
///    drains them without blocking;
/// 4. `start()` / `stop()`; `stats()`; `close()` detaches and releases everything.
public protocol CaptureDevice: AnyObject {
    /// "synthetic" or the device node.
    var name: String { get }
    func attach(ring: Ring) throws
    func queue(_ slots: [UInt32]) throws
    /// Owned by the device; valid until `close()`.
    var completionDescriptor: FileDescriptor { get }
    func readCompletions() throws -> [DeviceCompletion]
    func start() throws
    func stop()
    func stats() -> DeviceStats
    func close()
    /// A doorbell the device rings right after it publishes each frame, so a client wakes
    /// without the daemon in between (one wake-up, not two); nil when this device has none
    /// (the daemon then announces frames with messages). With the `reader`'s holds page (a
    /// self-serve client's), a device may leave the bell quiet while the client has not looked
    /// past the frame it was last rung for (Doorbell.ring(after:)).
    func makeDoorbell(reader: HoldsPage?) throws -> Doorbell?
    /// After this returns the device no longer rings `bell`.
    func removeDoorbell(_ bell: Doorbell)
}

/// A device that recycles slots itself (PROTOCOL.md §5.2): queued its slots once, it takes the
/// oldest slot whose frame nobody holds whenever it needs one, so it never waits for the daemon
/// — not when the daemon is late, stopped or restarting. Holds are the daemon's (per slot, for
/// the leases it grants message clients) and self-serve clients' (their HoldsPages); the
/// device checks them after marking the slot.
public protocol RecyclingDevice: CaptureDevice {
    /// Where holds are registered; set once a ring is attached.
    var holds: SlotHolds? { get }
    /// Recycle from the next start on (before start; not undone).
    func recycleSlots()
    var recycles: Bool { get }
    /// False for a device adopted running from a daemon that did not have it recycle: it
    /// goes on being given slots by the daemon.
    var mayRecycle: Bool { get }
    /// Whether the device goes on capturing when the daemon exits (the driver, whose open file
    /// systemd keeps in its fd store across a restart).
    var outlivesDaemon: Bool { get }
}

extension RecyclingDevice {
    public var mayRecycle: Bool { true }
    public var outlivesDaemon: Bool { false }
}

public enum DeviceError: Error, CustomStringConvertible {
    case notAttached
    case invalidSlot(UInt32)
    case frameTooLarge(frameBytes: Int, slotBytes: Int)

    public var description: String {
        switch self {
        case .notAttached: return "device has no ring attached"
        case .invalidSlot(let s): return "slot \(s) is not in the ring"
        case let .frameTooLarge(f, s): return "frames of \(f) bytes do not fit slots of \(s) bytes"
        }
    }
}
