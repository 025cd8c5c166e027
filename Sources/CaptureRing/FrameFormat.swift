import CCapturePayload
import CCaptureUAPI

/// What every frame of a stream holds (the ring header's format block, PROTOCOL.md §4.3):
/// opaque bytes, an image in one of GStreamer's pixel formats, or an array of samples in
/// NumPy's notation.
public enum FrameFormat: Sendable, Equatable {
    case opaque
    /// `stride`: bytes from one row to the next (at least width × bytes per pixel).
    case image(pixelFormat: String, width: Int, height: Int, stride: Int)
    /// `dtype`: a NumPy typestr ("<i2", "<f4", "|u1"); `shape`: C order, 1 to 4 dimensions.
    case samples(dtype: String, shape: [Int])

    /// The bytes one frame of this format takes (0 for opaque).
    public var frameBytes: Int {
        switch self {
        case .opaque: return 0
        case let .image(_, _, height, stride): return height * stride
        case let .samples(dtype, shape): return Int(Self.itemSize(dtype) ?? 0) * shape.reduce(1, *)
        }
    }

    /// Bytes per pixel of a pixel format named as GStreamer names it; nil when unknown.
    public static func bytesPerPixel(_ name: String) -> Int? {
        capture_pixel_format_find(name).map { Int($0.pointee.bytes_per_pixel) }
    }

    /// Every pixel format this project knows, by GStreamer's names.
    public static var pixelFormats: [String] {
        var names: [String] = []
        var i = 0
        while let f = capture_pixel_format_at(i) {
            names.append(String(cString: f.pointee.name))
            i += 1
        }
        return names
    }

    /// The item size of a NumPy typestr this project supports; nil otherwise.
    public static func itemSize(_ dtype: String) -> UInt32? {
        var size: UInt32 = 0
        return capture_dtype_parse(dtype, &size) == 0 ? size : nil
    }

    // MARK: the header block

    /// Writes the block at `base` (the ring header's `format`).
    func write(to base: UnsafeMutableRawPointer) {
        var block = capture_frame_format()
        switch self {
        case .opaque:
            block.kind = UInt32(CAPTURE_FORMAT_OPAQUE)
        case let .image(pixelFormat, width, height, stride):
            block.kind = UInt32(CAPTURE_FORMAT_IMAGE)
            withUnsafeMutableBytes(of: &block.pixel_format) { Self.copy(pixelFormat, into: $0) }
            block.width = UInt32(width)
            block.height = UInt32(height)
            block.stride = UInt32(stride)
        case let .samples(dtype, shape):
            block.kind = UInt32(CAPTURE_FORMAT_SAMPLES)
            withUnsafeMutableBytes(of: &block.dtype) { Self.copy(dtype, into: $0) }
            block.ndim = UInt32(shape.count)
            withUnsafeMutableBytes(of: &block.shape) { raw in
                for (i, n) in shape.prefix(Int(CAPTURE_FORMAT_MAX_DIMS)).enumerated() { raw.storeBytes(of: UInt64(n).littleEndian, toByteOffset: i * 8, as: UInt64.self) }
            }
        }
        withUnsafeBytes(of: &block) { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Reads the block at `base`; a block that makes no sense reads as opaque (the bytes are
    /// still there, only their meaning is unknown).
    static func read(from base: UnsafeRawPointer) -> FrameFormat {
        var block = capture_frame_format()
        withUnsafeMutableBytes(of: &block) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: $0.count)) }
        switch Int32(bitPattern: block.kind) { // any 32 bits a writer left there
        case CAPTURE_FORMAT_IMAGE:
            let name = withUnsafeBytes(of: block.pixel_format) { Self.string($0) }
            guard let bpp = bytesPerPixel(name), block.width > 0, block.height > 0,
                  UInt64(block.stride) >= UInt64(block.width) * UInt64(bpp) else { return .opaque }
            return .image(pixelFormat: name, width: Int(block.width), height: Int(block.height), stride: Int(block.stride))
        case CAPTURE_FORMAT_SAMPLES:
            let dtype = withUnsafeBytes(of: block.dtype) { Self.string($0) }
            guard itemSize(dtype) != nil, (1...Int(CAPTURE_FORMAT_MAX_DIMS)).contains(Int(block.ndim)) else { return .opaque }
            let shape = withUnsafeBytes(of: block.shape) { raw in (0..<Int(block.ndim)).map { Int(clamping: UInt64(littleEndian: raw.load(fromByteOffset: $0 * 8, as: UInt64.self))) } }
            guard shape.allSatisfy({ $0 > 0 && $0 <= 1 << 40 }) else { return .opaque }
            return .samples(dtype: dtype, shape: shape)
        default:
            return .opaque
        }
    }

    private static func copy(_ s: String, into raw: UnsafeMutableRawBufferPointer) {
        for (i, b) in s.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
    }

    private static func string(_ raw: UnsafeRawBufferPointer) -> String {
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
