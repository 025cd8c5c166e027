import CaptureRecording
import CaptureRing
import CaptureSystem

/// A recording replayed (`device = "replay:PATH"`): its frames, read with O_DIRECT straight
/// into the ring's slots, with the checksums they were recorded with, at the recorded pace or
/// the stream's frame_rate, once or in a loop.
public final class ReplaySource: FrameSource {
    public let recording: Recording
    public let loop: Bool
    /// Keep the recorded pace (the gaps between the recorded timestamps).
    public let recordedPace: Bool
    public var frameBytes: Int { recording.info.frameBytes }
    /// The pace between the last frame and the first when looping: the recording's mean gap.
    private let meanInterval: UInt64

    public init(recording: Recording, loop: Bool, recordedPace: Bool) {
        self.recording = recording
        self.loop = loop
        self.recordedPace = recordedPace
        let f = recording.frames
        if f.count > 1, let first = f.first, let last = f.last, last.timestampNanoseconds > first.timestampNanoseconds {
            meanInterval = (last.timestampNanoseconds - first.timestampNanoseconds) / UInt64(f.count - 1)
        } else {
            meanInterval = 1_000_000_000 / 30
        }
    }

    /// Frame `sequence` (1, 2, ...) of the replay is recorded frame (sequence - 1) mod count.
    private func index(_ sequence: UInt64) -> Int? {
        let n = UInt64(recording.frames.count)
        guard n > 0, sequence >= 1, loop || sequence <= n else { return nil }
        return Int((sequence - 1) % n)
    }

    public func has(_ sequence: UInt64) -> Bool { index(sequence) != nil }

    public func fill(_ slot: UnsafeMutableRawBufferPointer, sequence: UInt64) -> FrameFill {
        guard let i = index(sequence) else { return FrameFill(length: 0, flags: .deviceError, checksum: 0) }
        let r = recording.frames[i]
        // A read that fails (a disk error under the recording) is a device error the clients see.
        guard let n = try? recording.read(i, into: slot), n == Int(r.length) else {
            return FrameFill(length: 0, flags: .deviceError, checksum: 0)
        }
        return FrameFill(length: n, flags: FrameFlags(rawValue: r.flags), checksum: r.checksum)
    }

    public func interval(before sequence: UInt64) -> UInt64? {
        guard recordedPace, let i = index(sequence) else { return nil }
        guard i > 0 else { return meanInterval }
        let (a, b) = (recording.frames[i - 1].timestampNanoseconds, recording.frames[i].timestampNanoseconds)
        return b > a ? min(b - a, 10_000_000_000) : 0
    }
}
