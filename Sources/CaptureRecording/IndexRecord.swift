import CCapturePayload

/// One 64-byte record of a recording's `index` file (docs/RECORDING.md §3), little-endian.
/// A record carries the CRC-32 of its first 44 bytes, so a torn or garbage record is found
/// and the index read stops there.
public struct IndexRecord: Equatable, Sendable {
    public enum Kind: UInt32, Sendable {
        case frame = 1
        case drop = 2
        /// The recorder stopped on its own: `flags` says why (IndexRecord.EndReason).
        case end = 3
    }

    public enum EndReason: UInt32, Sendable {
        case finished = 1    // --frames, --duration, --max-bytes or SIGINT
        case diskFull = 2
        case failed = 3      // another I/O error, or the daemon went away
    }

    public static let bytes = 64
    /// Drop reason of a frame the recorder took but could not keep (its write failed, or its
    /// slot was refilled while it was written); 1-3 are PROTOCOL.md §3.5's.
    public static let notWritten: UInt32 = 16
    /// The index file starts with this, then 56 zero bytes, then records.
    public static let magic: [UInt8] = Array("CAPIDX01".utf8)

    public var kind: Kind
    /// frame: CAPTURE_FRAME_* (bit 0: checksum valid, bit 1: device error); drop: the drop
    /// reason (PROTOCOL.md §3.5); end: EndReason.
    public var flags: UInt32
    /// frame: its sequence; drop: the first frame dropped.
    public var sequence: UInt64
    /// frame: the device's completion time, CLOCK_MONOTONIC ns.
    public var timestampNanoseconds: UInt64
    /// frame: the payload's byte offset in `frames` (a multiple of 4096); drop: frames dropped.
    public var offset: UInt64
    /// frame: payload bytes.
    public var length: UInt64
    /// frame: CRC-32 of the payload (zlib's), as the device computed it.
    public var checksum: UInt32
    /// CLOCK_REALTIME ns when the record was written: wall time, for people.
    public var realtimeNanoseconds: UInt64

    public init(kind: Kind, flags: UInt32 = 0, sequence: UInt64 = 0, timestampNanoseconds: UInt64 = 0, offset: UInt64 = 0,
                length: UInt64 = 0, checksum: UInt32 = 0, realtimeNanoseconds: UInt64 = 0) {
        self.kind = kind
        self.flags = flags
        self.sequence = sequence
        self.timestampNanoseconds = timestampNanoseconds
        self.offset = offset
        self.length = length
        self.checksum = checksum
        self.realtimeNanoseconds = realtimeNanoseconds
    }

    public func encode(into raw: UnsafeMutableRawBufferPointer) {
        precondition(raw.count >= Self.bytes)
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        raw.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: flags.littleEndian, toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        raw.storeBytes(of: timestampNanoseconds.littleEndian, toByteOffset: 16, as: UInt64.self)
        raw.storeBytes(of: offset.littleEndian, toByteOffset: 24, as: UInt64.self)
        raw.storeBytes(of: length.littleEndian, toByteOffset: 32, as: UInt64.self)
        raw.storeBytes(of: checksum.littleEndian, toByteOffset: 40, as: UInt32.self)
        raw.storeBytes(of: capture_crc32(raw.baseAddress, 44).littleEndian, toByteOffset: 44, as: UInt32.self)
        raw.storeBytes(of: realtimeNanoseconds.littleEndian, toByteOffset: 48, as: UInt64.self)
    }

    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.bytes)
        out.withUnsafeMutableBytes { encode(into: $0) }
        return out
    }

    /// nil for a record that is torn, zero or not one of ours.
    public init?(decoding raw: UnsafeRawBufferPointer) {
        guard raw.count >= Self.bytes,
              UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 44, as: UInt32.self)) == capture_crc32(raw.baseAddress, 44),
              let kind = Kind(rawValue: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))) else { return nil }
        self.kind = kind
        flags = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        sequence = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        timestampNanoseconds = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        offset = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        length = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        checksum = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
        realtimeNanoseconds = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
    }
}
