import CCapturePayload

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

    /// Draws frame `sequence` of the test picture (PROTOCOL.md §6) in the image format `format`;
    /// returns its CRC-32. The buffer holds at least `format.frameBytes`.
    @discardableResult
    public static func drawImage(_ buffer: UnsafeMutableRawBufferPointer, format: FrameFormat, sequence: UInt64) -> UInt32 {
        guard case let .image(name, width, height, stride) = format, buffer.count >= format.frameBytes,
              let pixel = capture_pixel_format_find(name) else { return 0 }
        return capture_image_fill(buffer.baseAddress, pixel, UInt32(width), UInt32(height), UInt32(stride), sequence)
    }

    /// Offset of the first byte that is not frame `sequence` of the test picture, or nil.
    public static func firstImageMismatch(_ buffer: UnsafeRawBufferPointer, format: FrameFormat, sequence: UInt64) -> Int? {
        guard case let .image(name, width, height, stride) = format, let pixel = capture_pixel_format_find(name) else { return 0 }
        guard buffer.count >= format.frameBytes else { return buffer.count }
        let r = capture_image_check(buffer.baseAddress, pixel, UInt32(width), UInt32(height), UInt32(stride), sequence)
        return r < 0 ? nil : Int(r)
    }

    /// CRC-32/ISO-HDLC, as zlib's crc32() and Python's zlib.crc32 (libcapture/payload/crc32.c).
    public static func crc32(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        capture_crc32(buffer.baseAddress, buffer.count)
    }
}
