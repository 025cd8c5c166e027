import CCaptureShim
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
        @inlinable public static var magic: Int { Int(CAPTURE_HEADER_OFF_MAGIC) }
        @inlinable public static var version: Int { Int(CAPTURE_HEADER_OFF_VERSION) }
        @inlinable public static var headerBytes: Int { Int(CAPTURE_HEADER_OFF_HEADER_BYTES) }
        @inlinable public static var slotCount: Int { Int(CAPTURE_HEADER_OFF_SLOT_COUNT) }
        @inlinable public static var descriptorBytes: Int { Int(CAPTURE_HEADER_OFF_DESCRIPTOR_BYTES) }
        @inlinable public static var descriptorsOffset: Int { Int(CAPTURE_HEADER_OFF_DESCRIPTORS_OFFSET) }
        @inlinable public static var slotsOffset: Int { Int(CAPTURE_HEADER_OFF_SLOTS_OFFSET) }
        @inlinable public static var slotStride: Int { Int(CAPTURE_HEADER_OFF_SLOT_STRIDE) }
        @inlinable public static var frameBytes: Int { Int(CAPTURE_HEADER_OFF_FRAME_BYTES) }
        @inlinable public static var ringBytes: Int { Int(CAPTURE_HEADER_OFF_RING_BYTES) }
        @inlinable public static var payloadFormat: Int { Int(CAPTURE_HEADER_OFF_PAYLOAD_FORMAT) }
        @inlinable public static var pageBytes: Int { Int(CAPTURE_HEADER_OFF_PAGE_BYTES) }
        @inlinable public static var streamName: Int { Int(CAPTURE_HEADER_OFF_STREAM_NAME) }
        @inlinable public static var headSequence: Int { Int(CAPTURE_HEADER_OFF_HEAD_SEQUENCE) }
        @inlinable public static var headSlot: Int { Int(CAPTURE_HEADER_OFF_HEAD_SLOT) }
        /// struct capture_frame_format (FrameFormat).
        @inlinable public static var format: Int { Int(CAPTURE_HEADER_OFF_FORMAT) }
        @inlinable public static var gapsWritten: Int { Int(CAPTURE_HEADER_OFF_GAPS_WRITTEN) }
        @inlinable public static var gaps: Int { Int(CAPTURE_HEADER_OFF_GAPS) }
    }

    /// Runs of frames the device could not capture, logged in the header (RingGaps).
    public static let gapLogEntries = Int(CAPTURE_RING_GAPS)

    /// A self-serve lease client's page of holds (struct capture_holds, HoldsPage).
    public enum Holds {
        public static let magicValue = UInt64(CAPTURE_HOLDS_MAGIC)
        public static let bytes = Int(CAPTURE_HOLDS_BYTES)
        @inlinable public static var entries: Int { Int(CAPTURE_HOLDS_ENTRIES) }
        @inlinable public static var magic: Int { Int(CAPTURE_HOLDS_OFF_MAGIC) }
        @inlinable public static var limit: Int { Int(CAPTURE_HOLDS_OFF_LIMIT) }
        @inlinable public static var examined: Int { Int(CAPTURE_HOLDS_OFF_EXAMINED) }
        @inlinable public static var recycled: Int { Int(CAPTURE_HOLDS_OFF_RECYCLED) }
        @inlinable public static var held: Int { Int(CAPTURE_HOLDS_OFF_HELD) }
    }

    /// Slot descriptor field offsets, relative to the descriptor (struct capture_slot_descriptor).
    public enum Descriptor {
        @inlinable public static var generation: Int { Int(CAPTURE_DESCRIPTOR_OFF_GENERATION) }
        @inlinable public static var sequence: Int { Int(CAPTURE_DESCRIPTOR_OFF_SEQUENCE) }
        @inlinable public static var length: Int { Int(CAPTURE_DESCRIPTOR_OFF_LENGTH) }
        @inlinable public static var timestamp: Int { Int(CAPTURE_DESCRIPTOR_OFF_TIMESTAMP) }
        @inlinable public static var flags: Int { Int(CAPTURE_DESCRIPTOR_OFF_FLAGS) }
        @inlinable public static var checksum: Int { Int(CAPTURE_DESCRIPTOR_OFF_CHECKSUM) }
        @inlinable public static var offset: Int { Int(CAPTURE_DESCRIPTOR_OFF_OFFSET) }
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
