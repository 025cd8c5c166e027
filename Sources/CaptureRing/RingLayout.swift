/// The ring's byte layout, shared by the daemon and every client (docs/PROTOCOL.md, "The ring").
///
///     offset 0                  header (4096 bytes reserved)
///     offset 4096               slot descriptors, 64 bytes each
///     slotsOffset               slot 0, then slot 1 … every slot starts on a page boundary
///
/// All integers are little-endian. Shared 64-bit indices are written with release stores and
/// read with acquire loads.
public enum RingLayout {
    public static let magic: UInt64 = 0x3147_4E49_5250_4143 // "CAPRING1" read as little-endian bytes
    public static let version: UInt32 = 1
    public static let headerBytes = 4096
    public static let descriptorBytes = 64

    /// Header field offsets.
    public enum Header {
        public static let magic = 0            // u64 "CAPRING1"
        public static let version = 8          // u32 layout version
        public static let headerBytes = 12     // u32 bytes reserved for the header
        public static let slotCount = 16       // u32
        public static let descriptorBytes = 20 // u32 size of one slot descriptor
        public static let descriptorsOffset = 24 // u64
        public static let slotsOffset = 32     // u64
        public static let slotStride = 40      // u64 distance between slots, a multiple of pageBytes
        public static let frameBytes = 48      // u64 largest frame a slot holds
        public static let ringBytes = 56       // u64 size of the memfd
        public static let payloadFormat = 64   // u32 PayloadFormat
        public static let pageBytes = 68       // u32 4096, or the hugepage size
        public static let streamName = 72      // 32 bytes, UTF-8, NUL-padded
        public static let headSequence = 128   // u64 newest published frame (0: none yet), release-stored
        public static let headSlot = 136       // u64 its slot, stored before headSequence
    }

    /// Slot descriptor field offsets (relative to the descriptor).
    public enum Descriptor {
        public static let generation = 0   // u64 seqlock: odd while the slot is being (re)filled
        public static let sequence = 8     // u64 frame sequence number (device sequence)
        public static let length = 16      // u64 bytes of payload
        public static let timestamp = 24   // u64 CLOCK_MONOTONIC ns at device completion
        public static let flags = 32       // u32 FrameFlags
        public static let checksum = 36    // u32 CRC-32 of the payload when flags has .checksum
        public static let offset = 40      // u64 byte offset of the slot in the ring
    }
}

/// What the payload of each frame holds.
public enum PayloadFormat: UInt32, Sendable, Codable {
    case raw = 0      // device data, opaque to the service
    case pattern = 1  // every byte from FramePattern, CRC-32 in the descriptor
    case header = 2   // only the first 8 bytes: the sequence number
}

/// Per-frame flags in the slot descriptor.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The checksum field holds the CRC-32 of the payload.
    public static let checksum = FrameFlags(rawValue: 1)
    /// The device reported an error for this frame; the payload may be incomplete.
    public static let deviceError = FrameFlags(rawValue: 2)
}

/// The sizes of a ring, derived from what the stream needs.
public struct RingGeometry: Sendable, Equatable {
    public let slotCount: Int
    public let frameBytes: Int
    /// 4096, or the hugepage size for hugetlb rings.
    public let pageBytes: Int

    public init(slotCount: Int, frameBytes: Int, pageBytes: Int) {
        precondition(slotCount > 0 && frameBytes > 0 && pageBytes > 0)
        self.slotCount = slotCount
        self.frameBytes = frameBytes
        self.pageBytes = pageBytes
    }

    /// The geometry, if every size it implies fits in an Int (a ring header from elsewhere may
    /// say anything); nil otherwise.
    public static func checked(slotCount: Int, frameBytes: Int, pageBytes: Int) -> RingGeometry? {
        guard slotCount > 0, frameBytes > 0, pageBytes > 0 else { return nil }
        let (descriptors, o1) = slotCount.multipliedReportingOverflow(by: RingLayout.descriptorBytes)
        let (stride, o2) = frameBytes.addingReportingOverflow(pageBytes - 1)
        guard !o1, !o2, descriptors <= Int.max - RingLayout.headerBytes - pageBytes else { return nil }
        let g = RingGeometry(slotCount: slotCount, frameBytes: frameBytes, pageBytes: pageBytes)
        let (slots, o3) = slotCount.multipliedReportingOverflow(by: stride / pageBytes * pageBytes)
        guard !o3, slots <= Int.max - g.slotsOffset else { return nil }
        return g
    }

    public var descriptorsOffset: Int { RingLayout.headerBytes }
    public var slotsOffset: Int { roundUp(descriptorsOffset + slotCount * RingLayout.descriptorBytes, to: pageBytes) }
    /// A frame never shares a page with another frame.
    public var slotStride: Int { roundUp(frameBytes, to: pageBytes) }
    public var ringBytes: Int { slotsOffset + slotCount * slotStride }

    public func slotOffset(_ slot: Int) -> Int { slotsOffset + slot * slotStride }
    public func descriptorOffset(_ slot: Int) -> Int { descriptorsOffset + slot * RingLayout.descriptorBytes }
}

public func roundUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}
