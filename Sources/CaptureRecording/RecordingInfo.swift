import CaptureRing

/// `recording.json`: what was recorded (docs/RECORDING.md §1).
public struct RecordingInfo: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    /// Frames start at multiples of this in `frames`, and occupy their length rounded up to it.
    public static let alignment = 4096

    public var version: Int
    public var stream: String
    /// The largest frame: every frame's length is at most this.
    public var frameBytes: Int
    /// The stream's payload as captured named it ("pattern", "image", "raw", ...).
    public var payload: String
    public var format: Format
    public var alignment: Int
    /// When recording began: CLOCK_REALTIME (UTC, ISO 8601) and the host.
    public var started: String
    public var host: String

    /// FrameFormat as JSON: kind "opaque", "image" or "samples".
    public struct Format: Codable, Equatable, Sendable {
        public var kind: String
        public var pixelFormat: String?
        public var width: Int?
        public var height: Int?
        public var stride: Int?
        public var dtype: String?
        public var shape: [Int]?

        public init(_ f: FrameFormat) {
            switch f {
            case .opaque: kind = "opaque"
            case let .image(p, w, h, s): kind = "image"; pixelFormat = p; width = w; height = h; stride = s
            case let .samples(d, sh): kind = "samples"; dtype = d; shape = sh
            }
        }

        public var frameFormat: FrameFormat? {
            switch kind {
            case "opaque": return .opaque
            case "image":
                guard let pixelFormat, let width, let height, let stride else { return nil }
                return .image(pixelFormat: pixelFormat, width: width, height: height, stride: stride)
            case "samples":
                guard let dtype, let shape else { return nil }
                return .samples(dtype: dtype, shape: shape)
            default: return nil
            }
        }

        enum CodingKeys: String, CodingKey {
            case kind, width, height, stride, dtype, shape
            case pixelFormat = "pixel_format"
        }
    }

    public init(stream: String, frameBytes: Int, payload: String, format: FrameFormat, started: String, host: String) {
        version = Self.currentVersion
        self.stream = stream
        self.frameBytes = frameBytes
        self.payload = payload
        self.format = Format(format)
        alignment = Self.alignment
        self.started = started
        self.host = host
    }

    enum CodingKeys: String, CodingKey {
        case version, stream, payload, format, alignment, started, host
        case frameBytes = "frame_bytes"
    }
}
