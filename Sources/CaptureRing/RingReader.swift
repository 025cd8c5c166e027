#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import CCaptureShim

/// A client's read-only view of a ring received over the socket.
///
/// Acquire: `RingReader(memfd:)` maps the fd PROT_READ and checks the header. Release: the
/// mapping is unmapped when the last reference goes (frames keep their reader alive).
public final class RingReader: Sendable {
    public let mapping: Mapping
    public let geometry: RingGeometry
    public let payloadFormat: PayloadFormat
    /// What each frame holds (opaque for rings from daemons before the format block).
    public let format: FrameFormat
    public let stream: String
    /// The memfd's inode: the same ring after a daemon restart (a driver's ring, adopted) has
    /// the same one.
    public let inode: UInt64

    /// mmap(PROT_READ, MAP_SHARED) of the whole memfd, then header validation.
    public init(memfd: FileDescriptor) throws {
        inode = (try? memfd.inode()) ?? 0
        let size = try memfd.size()
        guard size >= UInt64(RingLayout.headerBytes) else { throw RingError.notARing("memfd is only \(size) bytes") }
        let mapping = try Mapping(sharing: memfd, length: Int(size), protection: .read)
        let h = mapping.base
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: (h + offset).load(as: T.self)) }
        guard capture_load_acquire_u64(h) == RingLayout.magic else { throw RingError.notARing("bad magic") }
        let version: UInt32 = get(RingLayout.Header.version, UInt32.self)
        guard version == RingLayout.version else { throw RingError.notARing("layout version \(version), this library reads \(RingLayout.version)") }
        let headerBytes: UInt32 = get(RingLayout.Header.headerBytes, UInt32.self)
        let descriptorBytes: UInt32 = get(RingLayout.Header.descriptorBytes, UInt32.self)
        guard Int(headerBytes) == RingLayout.headerBytes, Int(descriptorBytes) == RingLayout.descriptorBytes else {
            throw RingError.notARing("header of \(headerBytes) bytes with \(descriptorBytes)-byte descriptors; this library reads \(RingLayout.headerBytes) and \(RingLayout.descriptorBytes)")
        }
        let frameBytes: UInt64 = get(RingLayout.Header.frameBytes, UInt64.self)
        guard frameBytes <= size, let geometry = RingGeometry.checked(slotCount: Int(get(RingLayout.Header.slotCount, UInt32.self)),
                                                                       frameBytes: Int(frameBytes),
                                                                       pageBytes: Int(get(RingLayout.Header.pageBytes, UInt32.self))),
              geometry.ringBytes == Int(size),
              geometry.slotsOffset == Int(clamping: get(RingLayout.Header.slotsOffset, UInt64.self)),
              geometry.slotStride == Int(clamping: get(RingLayout.Header.slotStride, UInt64.self)) else {
            throw RingError.notARing("header geometry does not match the memfd size \(size)")
        }
        var nameBytes: [UInt8] = []
        for i in 0..<32 {
            let b = (h + RingLayout.Header.streamName + i).load(as: UInt8.self)
            if b == 0 { break }
            nameBytes.append(b)
        }
        self.mapping = mapping
        self.geometry = geometry
        self.stream = String(decoding: nameBytes, as: UTF8.self)
        self.payloadFormat = PayloadFormat(rawValue: get(RingLayout.Header.payloadFormat, UInt32.self)) ?? .raw
        self.format = FrameFormat.read(from: h + RingLayout.Header.format)
    }

    public func descriptor(_ slot: Int) -> SlotDescriptor {
        precondition(slot >= 0 && slot < geometry.slotCount, "slot \(slot) out of range")
        return SlotDescriptor(base: mapping.base + geometry.descriptorOffset(slot))
    }

    /// The bytes of `slot`, `length` long (clamped to the slot).
    public func payload(slot: Int, length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base + geometry.slotOffset(slot), count: min(length, geometry.frameBytes))
    }

    /// The newest published frame as the header says (acquire load).
    public var head: (sequence: UInt64, slot: Int) {
        let seq = capture_load_acquire_u64(mapping.base + RingLayout.Header.headSequence)
        let slot = capture_load_relaxed_u64(mapping.base + RingLayout.Header.headSlot)
        return (seq, Int(clamping: slot)) // the device wrote it; check it against slotCount before use
    }
}
