#if canImport(Glibc)
import Glibc
#endif
import CaptureRecording
import CaptureRing
import CaptureSystem

/// A configuration error, located: `file:line: key: message`.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let key: String?
    public let message: String

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}

/// The typed contents of capture.toml (config/capture.toml documents every key).
public struct Configuration: Sendable {
    public struct Stream: Sendable, Equatable {
        public enum Device: Sendable, Equatable {
            case synthetic
            case kernel(path: String)
            /// A recording replayed (docs/RECORDING.md): `device = "replay:PATH"`.
            case replay(path: String)
            public var name: String {
                switch self {
                case .synthetic: return "synthetic"
                case .kernel(let p): return p
                case .replay(let p): return "replay:" + p
                }
            }
        }
        /// How a replay stream plays its recording.
        public struct Replay: Sendable, Equatable {
            /// Start over after the last frame (default), or stop there.
            public var loop = true
            /// At the recorded pace (frame_rate not set), else at frame_rate.
            public var recordedPace = true
            public init() {}
        }
        public var name: String
        public var device: Device = .synthetic
        public var frameBytes = 1_000_000
        /// Frames per second; 0: as fast as possible.
        public var frameRate: Double = 1000
        /// `pattern` or `header` for the synthetic and loopback devices.
        public var payload: PayloadFormat = .pattern
        /// What a frame holds; `frame_bytes` defaults to its size.
        public var format: FrameFormat = .opaque
        public var slots = 64
        /// nil: 4 KiB pages.
        public var hugePage: Memfd.HugePage?
        public var lock: LockPolicy = .required
        /// Most slots queued at the device; nil: every slot no client holds.
        public var queueDepth: Int?
        /// Most frames one lease client may hold.
        public var maxLeases = 8
        /// Set for `device = "replay:PATH"`.
        public var replay: Replay?
    }

    public var socketPath: String?
    /// Connections from users other than root and the daemon's own (who have as many again of their own).
    public var maxClients = 64
    /// Connections from any one such user.
    public var maxClientsPerUID = 16
    /// A connection that has not said Hello is closed after this long without a request.
    public var helloTimeoutMilliseconds = 5000
    public var leaseTimeoutMilliseconds = 5000
    public var clientTimeoutMilliseconds = 10000
    public var allowUIDs: [UInt32] = []
    public var allowGIDs: [UInt32] = []
    public var streams: [Stream] = []

    public init() {}

    /// Reads and checks a configuration file.
    public static func load(path: String) throws(ConfigError) -> Configuration {
        guard let f = fopen(path, "r") else {
            throw ConfigError(file: path, line: nil, key: nil, message: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigError) -> Configuration {
        let root: TOMLTable
        do { root = try TOMLReader.parse(text) } catch {
            throw ConfigError(file: file, line: error.line, key: nil, message: error.message)
        }
        var reader = ConfigReader(file: file)
        return try reader.read(root)
    }
}

/// Turns TOML into a Configuration; each complaint names the file, the line and the key.
struct ConfigReader {
    let file: String

    func error(_ value: TOMLValue?, _ key: String, _ message: String, table: TOMLTable? = nil) -> ConfigError {
        ConfigError(file: file, line: value?.line ?? table?.line, key: key, message: message)
    }

    func table(_ v: TOMLValue, _ key: String) throws(ConfigError) -> TOMLTable {
        guard case .table(let t) = v.kind else { throw error(v, key, "expected a table, found \(v.typeName)") }
        return t
    }

    func int(_ v: TOMLValue, _ key: String, _ range: ClosedRange<Int64>) throws(ConfigError) -> Int {
        guard case .integer(let n) = v.kind else { throw error(v, key, "expected an integer, found \(v.typeName)") }
        guard range.contains(n) else { throw error(v, key, "\(n) is out of range (\(range.lowerBound)…\(range.upperBound))") }
        return Int(n)
    }

    func number(_ v: TOMLValue, _ key: String) throws(ConfigError) -> Double {
        switch v.kind {
        case .integer(let n): return Double(n)
        case .float(let d): return d
        default: throw error(v, key, "expected a number, found \(v.typeName)")
        }
    }

    func bool(_ v: TOMLValue, _ key: String) throws(ConfigError) -> Bool {
        guard case .bool(let b) = v.kind else { throw error(v, key, "expected true or false, found \(v.typeName)") }
        return b
    }

    func string(_ v: TOMLValue, _ key: String) throws(ConfigError) -> String {
        guard case .string(let s) = v.kind else { throw error(v, key, "expected a string, found \(v.typeName)") }
        return s
    }

    /// One of `choices`, by the name the configuration uses for it.
    func choice<T>(_ v: TOMLValue, _ key: String, _ choices: KeyValuePairs<String, T>) throws(ConfigError) -> T {
        let s = try string(v, key)
        guard let c = choices.first(where: { $0.key == s }) else {
            throw error(v, key, "\"\(s)\" is not one of \(choices.map { "\"\($0.key)\"" }.joined(separator: ", "))")
        }
        return c.value
    }

    func unknown(_ t: TOMLTable, _ prefix: String, allowed: Set<String>) throws(ConfigError) {
        for k in t.keys where !allowed.contains(k) {
            throw error(t[k], prefix + k, "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    mutating func read(_ root: TOMLTable) throws(ConfigError) -> Configuration {
        var config = Configuration()
        try unknown(root, "", allowed: ["daemon", "access", "stream"])
        if let d = root["daemon"] {
            let t = try table(d, "daemon")
            try unknown(t, "daemon.", allowed: ["socket", "max_clients", "max_clients_per_uid", "hello_timeout_ms", "lease_timeout_ms", "client_timeout_ms"])
            if let v = t["socket"] {
                let p = try string(v, "daemon.socket")
                guard p.hasPrefix("/") else { throw error(v, "daemon.socket", "must be an absolute path") }
                config.socketPath = p
            }
            if let v = t["max_clients"] { config.maxClients = try int(v, "daemon.max_clients", 1...4096) }
            if let v = t["max_clients_per_uid"] { config.maxClientsPerUID = try int(v, "daemon.max_clients_per_uid", 1...4096) }
            if let v = t["hello_timeout_ms"] { config.helloTimeoutMilliseconds = try int(v, "daemon.hello_timeout_ms", 10...3_600_000) }
            if let v = t["lease_timeout_ms"] { config.leaseTimeoutMilliseconds = try int(v, "daemon.lease_timeout_ms", 10...3_600_000) }
            if let v = t["client_timeout_ms"] { config.clientTimeoutMilliseconds = try int(v, "daemon.client_timeout_ms", 10...3_600_000) }
        }
        if let a = root["access"] {
            let t = try table(a, "access")
            try unknown(t, "access.", allowed: ["allow_uids", "allow_groups"])
            if let v = t["allow_uids"] {
                guard case .array(let items) = v.kind else { throw error(v, "access.allow_uids", "expected an array of user ids") }
                for item in items { config.allowUIDs.append(UInt32(try int(item, "access.allow_uids", 0...Int64(UInt32.max - 1)))) }
            }
            if let v = t["allow_groups"] {
                guard case .array(let items) = v.kind else { throw error(v, "access.allow_groups", "expected an array of group names or ids") }
                for item in items {
                    switch item.kind {
                    case .integer: config.allowGIDs.append(UInt32(try int(item, "access.allow_groups", 0...Int64(UInt32.max - 1))))
                    case .string(let name):
                        guard let g = getgrnam(name) else { throw error(item, "access.allow_groups", "no group named \"\(name)\" on this system") }
                        config.allowGIDs.append(g.pointee.gr_gid)
                    default: throw error(item, "access.allow_groups", "expected a group name or id, found \(item.typeName)")
                    }
                }
            }
        }
        if let s = root["stream"] {
            let streams = try table(s, "stream")
            for name in streams.keys {
                config.streams.append(try stream(name, streams[name]!))
            }
        }
        guard !config.streams.isEmpty else {
            throw ConfigError(file: file, line: nil, key: "stream", message: "no stream is defined; add a [stream.NAME] table")
        }
        return config
    }

    func stream(_ name: String, _ value: TOMLValue) throws(ConfigError) -> Configuration.Stream {
        let p = "stream.\(name)."
        let valid = !name.isEmpty && name.utf8.count <= 31 && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
        guard valid else { throw error(value, "stream.\(name)", "stream names are 1–31 characters of A–Z, a–z, 0–9, _ and -") }
        let t = try table(value, "stream.\(name)")
        try unknown(t, p, allowed: ["device", "frame_bytes", "frame_rate", "payload", "queue_depth", "max_leases", "ring", "format", "replay"])
        var s = Configuration.Stream(name: name)
        var recorded: Recording?
        if let v = t["device"] {
            let d = try string(v, p + "device")
            if d == "synthetic" { s.device = .synthetic } else if d.hasPrefix("/dev/") { s.device = .kernel(path: d) } else if d.hasPrefix("replay:") {
                var path = String(d.dropFirst("replay:".count))
                guard !path.isEmpty else { throw error(v, p + "device", "\"replay:\" needs the recording's directory: \"replay:/path/to/recording\"") }
                // A relative path is relative to this file's directory.
                if !path.hasPrefix("/") {
                    let directory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                    path = (directory.isEmpty ? "." : directory) + "/" + path
                }
                do { recorded = try Recording(directory: path) } catch {
                    throw self.error(v, p + "device", "cannot replay \(path): \(error) (record one with: capturectl record STREAM \(path))")
                }
                guard let recording = recorded, !recording.frames.isEmpty else {
                    throw error(v, p + "device", "the recording at \(path) holds no frames")
                }
                s.device = .replay(path: path)
                s.replay = Configuration.Stream.Replay()
                s.frameBytes = recording.info.frameBytes
                s.format = recording.format
                s.payload = .raw
            } else {
                throw error(v, p + "device", "\"\(d)\" is neither \"synthetic\", a /dev/captureN path nor \"replay:PATH\"")
            }
        }
        if let r = t["replay"] {
            guard s.replay != nil else { throw error(r, p + "replay", "replay settings are for a stream whose device is \"replay:PATH\"") }
            let rt = try table(r, p + "replay")
            try unknown(rt, p + "replay.", allowed: ["loop"])
            if let v = rt["loop"] { s.replay?.loop = try bool(v, p + "replay.loop") }
        }
        if recorded != nil {
            for key in ["format", "payload"] where t[key] != nil {
                throw error(t[key], p + key, "a replay stream's frames are the recording's, \(key) included; leave \(key) out")
            }
        }
        if let v = t["format"] { s.format = try format(v, p + "format.") }
        if let v = t["frame_bytes"], let recording = recorded {
            s.frameBytes = try int(v, p + "frame_bytes", 8...(1 << 32))
            guard s.frameBytes >= recording.info.frameBytes else {
                throw error(v, p + "frame_bytes", "\(s.frameBytes) bytes are fewer than the recording's frames (\(recording.info.frameBytes)); leave frame_bytes out")
            }
        } else if let v = t["frame_bytes"] {
            s.frameBytes = try int(v, p + "frame_bytes", 8...(1 << 32))
            if s.format.frameBytes > s.frameBytes {
                throw error(v, p + "frame_bytes", "\(s.frameBytes) bytes do not hold one frame of the format (\(s.format.frameBytes) bytes); leave frame_bytes out to take the format's size")
            }
        } else if s.format != .opaque {
            s.frameBytes = max(8, s.format.frameBytes)
        }
        if let v = t["frame_rate"] {
            s.frameRate = try number(v, p + "frame_rate")
            guard s.frameRate >= 0, s.frameRate <= 1_000_000 else { throw error(v, p + "frame_rate", "must be 0 (as fast as possible) up to 1000000 frames/s") }
            s.replay?.recordedPace = false
        } else if s.replay != nil {
            s.frameRate = 0   // the recorded pace sets the time between frames
        }
        if let v = t["payload"] {
            s.payload = try choice(v, p + "payload", ["pattern": .pattern, "header": .header, "image": .image])
            if s.payload == .image, case .image = s.format {} else if s.payload == .image {
                throw error(v, p + "payload", "\"image\" draws the test picture: give the stream an image format ([\(p)format] with pixel_format, width and height)")
            }
            if s.payload == .image, case .kernel = s.device {
                throw error(v, p + "payload", "\"image\" is drawn by the synthetic device; the driver's test engines write \"pattern\" or \"header\"")
            }
        }
        if let v = t["queue_depth"] { s.queueDepth = try int(v, p + "queue_depth", 1...1024) }
        if let v = t["max_leases"] { s.maxLeases = try int(v, p + "max_leases", 1...1024) }
        var slotsValue: TOMLValue?
        var lockValue: TOMLValue?
        if let r = t["ring"] {
            let rt = try table(r, p + "ring")
            try unknown(rt, p + "ring.", allowed: ["slots", "hugepages", "lock"])
            if let v = rt["slots"] { s.slots = try int(v, p + "ring.slots", 2...65536); slotsValue = v }
            if let v = rt["hugepages"] { s.hugePage = try choice(v, p + "ring.hugepages", ["none": nil, "2M": .size2M, "1G": .size1G]) }
            if let v = rt["lock"] { s.lock = try choice(v, p + "ring.lock", ["required": .required, "best-effort": .bestEffort]); lockValue = v }
        }
        if let depth = s.queueDepth, s.slots < depth + 2 {
            throw error(slotsValue ?? value, p + "ring.slots", "\(s.slots) slots cannot feed a device queue of \(depth) and leave frames for clients; use at least \(depth + 2)")
        }
        if s.format.frameBytes > s.frameBytes {
            throw error(value, p + "frame_bytes", "the default of \(s.frameBytes) bytes does not hold one frame of the format (\(s.format.frameBytes) bytes)")
        }
        if case .kernel = s.device, s.lock == .bestEffort {
            throw error(lockValue, p + "ring.lock", "\"best-effort\" is for synthetic streams only: a device DMAs into the ring, so it must be locked")
        }
        return s
    }

    /// `[stream.NAME.format]`: `pixel_format`, `width`, `height` and optionally `stride` for
    /// images; `dtype` and `shape` for sample arrays.
    func format(_ value: TOMLValue, _ p: String) throws(ConfigError) -> FrameFormat {
        let t = try table(value, String(p.dropLast()))
        try unknown(t, p, allowed: ["pixel_format", "width", "height", "stride", "dtype", "shape"])
        if let v = t["pixel_format"] {
            if let d = t["dtype"] { throw error(d, p + "dtype", "a format is an image (pixel_format) or samples (dtype), not both") }
            let name = try string(v, p + "pixel_format")
            guard let bpp = FrameFormat.bytesPerPixel(name) else {
                throw error(v, p + "pixel_format", "\"\(name)\" is not a pixel format this service knows; known (GStreamer's names): \(FrameFormat.pixelFormats.joined(separator: ", "))")
            }
            guard let w = t["width"] else { throw error(value, p + "width", "an image needs a width (pixels)", table: t) }
            guard let h = t["height"] else { throw error(value, p + "height", "an image needs a height (rows)", table: t) }
            let width = try int(w, p + "width", 1...65536)
            let height = try int(h, p + "height", 1...65536)
            var stride = width * bpp
            if let v = t["stride"] {
                stride = try int(v, p + "stride", 1...(1 << 24))
                guard stride >= width * bpp else {
                    throw error(v, p + "stride", "\(stride) bytes per row is less than \(width) pixels of \(name) (\(width * bpp) bytes)")
                }
            }
            return .image(pixelFormat: name, width: width, height: height, stride: stride)
        }
        for key in ["width", "height", "stride"] where t[key] != nil {
            throw error(t[key], p + key, "\(key) describes an image: give pixel_format too")
        }
        guard let d = t["dtype"] else { throw error(value, p + "pixel_format", "give pixel_format (an image) or dtype and shape (samples)", table: t) }
        let dtype = try string(d, p + "dtype")
        guard FrameFormat.itemSize(dtype) != nil else {
            throw error(d, p + "dtype", "\"\(dtype)\" is not a NumPy typestr this service supports: byte order (<, > or | for one byte), kind (i, u, f or c) and size, e.g. \"<i2\", \"<f4\", \"|u1\"")
        }
        guard let s = t["shape"] else { throw error(value, p + "shape", "samples need a shape, e.g. [1000] or [4, 250000]", table: t) }
        guard case .array(let items) = s.kind, (1...4).contains(items.count) else {
            throw error(s, p + "shape", "expected an array of 1 to 4 dimensions, e.g. [4, 250000]")
        }
        var shape: [Int] = []
        for item in items { shape.append(try int(item, p + "shape", 1...(1 << 32))) }
        guard shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) <= 1 << 32 else {
            throw error(s, p + "shape", "\(shape.map(String.init).joined(separator: " x ")) elements are more than a frame can hold (4 GiB)")
        }
        return .samples(dtype: dtype, shape: shape)
    }
}
