import CaptureRing

/// What a device made of a thread (SyntheticDevice) writes into each slot: the test payloads,
/// or a recording being replayed. Called on the device's thread only.
public protocol FrameSource: Sendable {
    /// The most bytes one frame has (at most the ring's frame_bytes).
    var frameBytes: Int { get }
    /// Whether there is a frame `sequence` (false once a replay that does not loop has ended).
    func has(_ sequence: UInt64) -> Bool
    /// Writes frame `sequence` into `slot` (the whole slot, page-aligned).
    func fill(_ slot: UnsafeMutableRawBufferPointer, sequence: UInt64) -> FrameFill
    /// The time from the previous frame to frame `sequence` when the source keeps its own pace
    /// (a recording at its recorded rate); nil: the device's frame_rate.
    func interval(before sequence: UInt64) -> UInt64?
}

/// What one frame turned out to be.
public struct FrameFill: Sendable {
    public var length: Int
    public var flags: FrameFlags
    public var checksum: UInt32
    public init(length: Int, flags: FrameFlags, checksum: UInt32) {
        self.length = length
        self.flags = flags
        self.checksum = checksum
    }
}

/// The synthetic payloads (PROTOCOL.md §6): every byte from the sequence (pattern), the moving
/// test picture (image), or only the sequence stamp (header).
public struct TestPayloadSource: FrameSource {
    public let payload: PayloadFormat
    public let format: FrameFormat
    public let frameBytes: Int

    public init(payload: PayloadFormat, format: FrameFormat, frameBytes: Int) {
        self.payload = payload
        self.format = format
        // The image payload is the picture's bytes; the others fill the whole frame.
        self.frameBytes = payload == .image ? format.frameBytes : frameBytes
    }

    public func has(_ sequence: UInt64) -> Bool { true }

    public func fill(_ slot: UnsafeMutableRawBufferPointer, sequence: UInt64) -> FrameFill {
        let payloadBytes = UnsafeMutableRawBufferPointer(rebasing: slot[0..<frameBytes])
        switch payload {
        case .pattern:
            return FrameFill(length: frameBytes, flags: .checksum, checksum: FramePattern.fill(payloadBytes, sequence: sequence))
        case .image:
            return FrameFill(length: frameBytes, flags: .checksum, checksum: FramePattern.drawImage(payloadBytes, format: format, sequence: sequence))
        case .header, .raw:
            FramePattern.stamp(payloadBytes, sequence: sequence)
            return FrameFill(length: frameBytes, flags: [], checksum: 0)
        }
    }

    public func interval(before sequence: UInt64) -> UInt64? { nil }
}
