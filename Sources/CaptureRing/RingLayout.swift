import CCaptureUAPI

/// The ring's byte layout, shared by the daemon and every client (docs/PROTOCOL.md, "The ring").
/// The one definition is driver/uapi/capture_ring.h; these are its values, as Swift names.
///
///     offset 0                  header (4096 bytes reserved)
///     offset 4096               slot descriptors, 64 bytes each
///     slotsOffset               slot 0, then slot 1 … every slot starts on a page boundary
///
/// All integers are little-endian. Shared 64-bit indices are written with release stores and
/// read with acquire loads.
public enum RingLayout {
    public static let magic = UInt64(CAPTURE_RING_MAGIC) // "CAPRING1" read as little-endian bytes
    public static let version = UInt32(CAPTURE_RING_LAYOUT_VERSION)
    public static let headerBytes = Int(CAPTURE_RING_HEADER_BYTES)
    public static let descriptorBytes = MemoryLayout<capture_slot_descriptor>.size
    public static let streamNameBytes = Int(CAPTURE_RING_NAME_BYTES)

    /// Header field offsets (struct capture_ring_header).
    public enum Header {
        private static func at(_ field: PartialKeyPath<capture_ring_header>) -> Int { MemoryLayout<capture_ring_header>.offset(of: field)! }
        public static let magic = at(\.magic)
        public static let version = at(\.layout_version)
        public static let headerBytes = at(\.header_bytes)
        public static let slotCount = at(\.slot_count)
        public static let descriptorBytes = at(\.descriptor_bytes)
        public static let descriptorsOffset = at(\.descriptors_offset)
        public static let slotsOffset = at(\.slots_offset)
        public static let slotStride = at(\.slot_stride)
        public static let frameBytes = at(\.frame_bytes)
        public static let ringBytes = at(\.ring_bytes)
        public static let payloadFormat = at(\.payload_format)
        public static let pageBytes = at(\.page_bytes)
        public static let streamName = at(\.stream_name)
        public static let headSequence = at(\.head_sequence)
        public static let headSlot = at(\.head_slot)
        /// struct capture_frame_format (FrameFormat).
        public static let format = at(\.format)
        public static let gapsWritten = at(\.gaps_written)
        public static let gaps = at(\.gaps)
    }

    /// Runs of frames the device could not capture, logged in the header (RingGaps).
    public static let gapLogEntries = Int(CAPTURE_RING_GAPS)

    /// A self-serve lease client's page of holds (struct capture_holds, HoldsPage).
    public enum Holds {
        private static func at(_ field: PartialKeyPath<capture_holds>) -> Int { MemoryLayout<capture_holds>.offset(of: field)! }
        public static let magicValue = UInt64(CAPTURE_HOLDS_MAGIC)
        public static let bytes = Int(CAPTURE_HOLDS_BYTES)
        public static let entries = Int(CAPTURE_HOLDS_ENTRIES)
        public static let magic = at(\.magic)
        public static let limit = at(\.limit)
        public static let examined = at(\.examined)
        public static let recycled = at(\.recycled)
        public static let held = at(\.held)
    }

    /// Slot descriptor field offsets, relative to the descriptor (struct capture_slot_descriptor).
    public enum Descriptor {
        private static func at(_ field: PartialKeyPath<capture_slot_descriptor>) -> Int { MemoryLayout<capture_slot_descriptor>.offset(of: field)! }
        public static let generation = at(\.generation)
        public static let sequence = at(\.sequence)
        public static let length = at(\.length)
        public static let timestamp = at(\.timestamp_ns)
        public static let flags = at(\.flags)
        public static let checksum = at(\.checksum)
        public static let offset = at(\.offset)
    }
}

/// What the payload of each frame holds (CAPTURE_PAYLOAD_*; RingLayoutTests checks the values).
public enum PayloadFormat: UInt32, Sendable, Codable {
    case raw = 0      // device data, opaque to the service
    case pattern = 1  // every byte from FramePattern, CRC-32 in the descriptor
    case header = 2   // only the first 8 bytes: the sequence number
    case image = 3    // the moving test picture in the stream's pixel format, CRC-32 in the descriptor

    /// As capture.toml and the status document name it.
    public var name: String {
        switch self {
        case .raw: return "raw"
        case .pattern: return "pattern"
        case .header: return "header"
        case .image: return "image"
        }
    }
}

/// Per-frame flags in the slot descriptor (CAPTURE_FRAME_*).
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The checksum field holds the CRC-32 of the payload.
    public static let checksum = FrameFlags(rawValue: CAPTURE_FRAME_CHECKSUM)
    /// The device reported an error for this frame; the payload may be incomplete.
    public static let deviceError = FrameFlags(rawValue: CAPTURE_FRAME_DEVICE_ERROR)
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
