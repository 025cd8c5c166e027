import CCaptureShim

/// The deterministic `pattern` payload and the frame checksum (docs/PROTOCOL.md, "Payload").
public enum FramePattern {
    /// Fills `buffer` with the pattern of `sequence`; returns its CRC-32.
    @discardableResult
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer, sequence: UInt64) -> UInt32 {
        capture_pattern_fill(buffer.baseAddress, buffer.count, sequence)
    }

    /// Offset of the first byte that is not the pattern of `sequence`, or nil.
    public static func firstMismatch(_ buffer: UnsafeRawBufferPointer, sequence: UInt64) -> Int? {
        let r = capture_pattern_check(buffer.baseAddress, buffer.count, sequence)
        return r < 0 ? nil : Int(r)
    }

    /// The `header` payload: the sequence in the first 8 bytes.
    public static func stamp(_ buffer: UnsafeMutableRawBufferPointer, sequence: UInt64) {
        capture_header_stamp(buffer.baseAddress, buffer.count, sequence)
    }

    /// CRC-32/ISO-HDLC, as zlib's crc32() and Python's zlib.crc32.
    public static func crc32(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        capture_crc32(buffer.baseAddress, buffer.count)
    }
}
