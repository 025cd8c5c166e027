import CaptureProtocol
import CaptureRing

/// One frame in the ring: zero-copy, read-only. In lease mode it stays stable until released;
/// in latest mode it may be overwritten at any time, which `check()` detects.
public struct Frame: Sendable {
    public let sequence: UInt64
    public let slot: UInt32
    public let length: Int
    /// CLOCK_MONOTONIC nanoseconds when the device completed the frame.
    public let timestampNanoseconds: UInt64
    public let flags: FrameFlags
    public let checksum: UInt32
    /// Held under a lease (lease mode) until `CaptureClient.release`.
    public let isLeased: Bool
    let snapshot: SlotDescriptor.Snapshot
    let ring: RingReader
    /// Which session with the daemon announced it (reconnects start a new one).
    let session: Int
    /// A lease this client took itself: the holds page its entry is in (PROTOCOL.md §3.2.2).
    let holds: HoldsPage?

    /// Frame `sequence` in `slot`, as its descriptor's stable snapshot describes it.
    init(sequence: UInt64, slot: UInt32, snapshot: SlotDescriptor.Snapshot, isLeased: Bool, ring: RingReader, session: Int,
         holds: HoldsPage? = nil) {
        self.holds = holds
        self.sequence = sequence
        self.slot = slot
        length = min(Int(clamping: snapshot.length), ring.geometry.frameBytes) // a descriptor may claim anything
        timestampNanoseconds = snapshot.timestamp
        flags = snapshot.flags
        checksum = snapshot.checksum
        self.isLeased = isLeased
        self.snapshot = snapshot
        self.ring = ring
        self.session = session
    }

    /// The payload, straight from the shared mapping. Valid while the client (or this frame)
    /// is alive; stable while leased.
    public var bytes: UnsafeRawBufferPointer { ring.payload(slot: Int(slot), length: length) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(bytes) }

    /// True while nothing has rewritten the slot since the frame was announced (seqlock).
    public var isIntact: Bool {
        guard snapshot.sequence == sequence else { return false }
        let descriptor = ring.descriptor(Int(slot))
        if descriptor.stillIntact(snapshot) { return true }
        // A held frame's slot may carry the device's mark while it sees the hold and gives the
        // slot back (PROTOCOL.md §5.2): nothing was written; wait for that outcome.
        return isLeased && !snapshot.isBeingFilled && descriptor.awaitDecision(after: snapshot.generation) == snapshot.generation
    }

    public enum Check: Sendable, Equatable {
        case intact
        /// The slot was refilled while (or before) we read it: detected, never silently wrong.
        case overwritten
        /// The bytes are wrong although the slot was not rewritten.
        case corrupt(String)
    }

    /// Reads every byte: CRC-32 against the descriptor when the frame carries one, the
    /// deterministic pattern for `pattern` streams, the sequence stamp for `header` streams;
    /// then re-checks the seqlock, so an overwrite is never reported as corruption.
    public func check() -> Check {
        guard snapshot.sequence == sequence, !snapshot.isBeingFilled else { return .overwritten }
        let data = bytes
        var problem: String?
        if flags.contains(.deviceError) { problem = "the device reported an error filling this frame" }
        if problem == nil, flags.contains(.checksum) {
            let crc = FramePattern.crc32(data)
            if crc != checksum { problem = "CRC-32 \(hex(crc)) differs from the descriptor's \(hex(checksum))" }
        }
        if problem == nil {
            switch ring.payloadFormat {
            case .pattern:
                if let at = FramePattern.firstMismatch(data, sequence: sequence) { problem = "byte \(at) differs from the pattern of frame \(sequence)" }
            case .image:
                if let at = FramePattern.firstImageMismatch(data, format: ring.format, sequence: sequence) { problem = "byte \(at) differs from frame \(sequence) of the test picture" }
            case .header:
                if data.count >= 8 {
                    let stamp = data.loadUnaligned(as: UInt64.self).littleEndian
                    if stamp != sequence { problem = "sequence stamp \(stamp), expected \(sequence)" }
                }
            case .raw:
                break
            }
        }
        guard isIntact else { return .overwritten }
        if let problem { return .corrupt(problem) }
        return .intact
    }

    var entry: FrameEntry { FrameEntry(slot: slot, sequence: sequence) }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// What the daemon tells a client besides frames.
public enum CaptureEvent: Sendable {
    case frame(Frame)
    /// Frames this client will never see, and why.
    case dropped(Dropped)
    /// A lease was taken back after the lease timeout; the frame may be overwritten.
    case leaseRevoked(sequence: UInt64, slot: UInt32)
    /// A non-fatal error from the daemon (e.g. a release of a frame that was not leased).
    case notice(ErrorCode, String)
    /// The daemon went away and a new session began (reconnect mode); frames missed in between
    /// were reported just before as `dropped` with reason `reconnect`.
    case reconnected(headSequence: UInt64)
}
