#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCapturePayload
import Foundation

/// A recording on disk, read (docs/RECORDING.md): its description, its index up to the last
/// intact record, and its frames.
public final class Recording: Sendable {
    public let directory: String
    public let info: RecordingInfo
    public let format: FrameFormat
    /// Frame records, in the order they were written.
    public let frames: [IndexRecord]
    public let drops: [IndexRecord]
    /// How recording ended; nil when it was cut off (SIGKILL, a crash, power).
    public let end: IndexRecord?
    /// `frames`, open for reading (O_DIRECT when `direct`, for reading into page-aligned memory).
    public let data: FileDescriptor
    public let direct: Bool

    public enum Failure: Error, CustomStringConvertible {
        case notARecording(String, String)
        public var description: String {
            switch self {
            case let .notARecording(path, why): return "\(path) is not a recording: \(why)"
            }
        }
    }

    public init(directory: String, direct: Bool = false) throws {
        self.directory = directory
        let json: Data
        do { json = try Data(contentsOf: URL(fileURLWithPath: directory + "/recording.json")) } catch {
            throw Failure.notARecording(directory, "no readable recording.json (\(error.localizedDescription))")
        }
        let decoded: RecordingInfo
        do { decoded = try JSONDecoder().decode(RecordingInfo.self, from: json) } catch {
            throw Failure.notARecording(directory, "recording.json: \(error)")
        }
        guard decoded.version == RecordingInfo.currentVersion else {
            throw Failure.notARecording(directory, "format version \(decoded.version); this build reads \(RecordingInfo.currentVersion)")
        }
        guard decoded.alignment == RecordingInfo.alignment, decoded.frameBytes > 0, let format = decoded.format.frameFormat else {
            throw Failure.notARecording(directory, "recording.json has an impossible alignment, frame size or format")
        }
        info = decoded
        self.format = format
        let index = try File.open(directory + "/index", .readOnly)
        let size = Int(try index.size())
        var bytes = [UInt8](repeating: 0, count: size)
        _ = try bytes.withUnsafeMutableBytes { try File.read(index, into: $0, at: 0) }
        guard size >= IndexRecord.bytes, Array(bytes[0..<IndexRecord.magic.count]) == IndexRecord.magic else {
            throw Failure.notARecording(directory, "the index does not start with \(String(decoding: IndexRecord.magic, as: UTF8.self))")
        }
        var frames: [IndexRecord] = [], drops: [IndexRecord] = [], end: IndexRecord?
        let limit = UInt64(try File.open(directory + "/frames", .readOnly).size())
        bytes.withUnsafeBytes { raw in
            var at = IndexRecord.bytes
            while at + IndexRecord.bytes <= size, end == nil {
                // Stop at the first torn or foreign record: what follows is not trusted.
                guard let r = IndexRecord(decoding: UnsafeRawBufferPointer(rebasing: raw[at..<(at + IndexRecord.bytes)])) else { break }
                switch r.kind {
                case .frame:
                    // A frame the data file does not hold entirely is not claimed.
                    let (end, overflow) = r.offset.addingReportingOverflow(r.length)
                    guard r.length <= UInt64(decoded.frameBytes), r.offset % UInt64(RecordingInfo.alignment) == 0,
                          !overflow, end <= limit else { break }
                    frames.append(r)
                case .drop: drops.append(r)
                case .end: end = r
                }
                at += IndexRecord.bytes
            }
        }
        self.frames = frames
        self.drops = drops
        self.end = end
        var useDirect = direct
        do {
            data = try File.open(directory + "/frames", direct ? [.readOnly, .direct] : .readOnly)
        } catch let e as SystemError where e.errno == EINVAL && direct {
            data = try File.open(directory + "/frames", .readOnly)
            useDirect = false
        }
        self.direct = useDirect
    }

    /// Reads frame `i` into `buffer` (at least its length rounded up to the alignment when the
    /// file is open O_DIRECT, and page-aligned); returns its length.
    public func read(_ i: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let r = frames[i]
        let want = direct ? RecordingWriter.writeBytes(forLength: Int(r.length)) : Int(r.length)
        let n = try File.read(data, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: r.offset)
        return min(n, Int(r.length))
    }

    /// Frames whose bytes do not match their recorded CRC-32 (frames without one are skipped).
    public func verify() throws -> [UInt64] {
        var bad: [UInt64] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RecordingWriter.writeBytes(forLength: info.frameBytes), alignment: 4096)
        defer { buffer.deallocate() }
        for i in frames.indices where frames[i].flags & 1 != 0 {
            let n = try read(i, into: buffer)
            if n != Int(frames[i].length) || capture_crc32(buffer.baseAddress, n) != frames[i].checksum { bad.append(frames[i].sequence) }
        }
        return bad
    }
}
