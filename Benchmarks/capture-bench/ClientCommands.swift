#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureClient
import CaptureProtocol
import CaptureRing
import CaptureSystem
import CCapturePayload
import CCaptureShim
import Foundation
import Histogram

/// What one client process measured; printed as one JSON line for the suite to collect.
struct ClientResult: Codable {
    var frames: UInt64 = 0
    var bytes: UInt64 = 0
    var seconds: Double = 0
    var dropped: UInt64 = 0
    var overwritten: UInt64 = 0
    var corrupt: UInt64 = 0
    /// CPU time the client's thread used inside the window: bytes / cpuSeconds is its read
    /// speed while it runs, whatever else the machine's cores were doing.
    var cpuSeconds: Double = 0
    /// Calls that returned frames (nextFrames), inside the window: frames / batches is the
    /// batch the client saw, and each batch costs the daemon one Release.
    var batches: UInt64 = 0
    var latency: Percentiles?
    /// Every latency sample (ns), for the suite to pool a mode's rows across frame sizes.
    var latencySamples: [UInt64]?

    init() {}

    /// Peers print only what they measure (frames, seconds, bytes); the rest defaults to zero.
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        frames = try c.decodeIfPresent(UInt64.self, forKey: .frames) ?? 0
        bytes = try c.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds) ?? 0
        dropped = try c.decodeIfPresent(UInt64.self, forKey: .dropped) ?? 0
        overwritten = try c.decodeIfPresent(UInt64.self, forKey: .overwritten) ?? 0
        corrupt = try c.decodeIfPresent(UInt64.self, forKey: .corrupt) ?? 0
        cpuSeconds = try c.decodeIfPresent(Double.self, forKey: .cpuSeconds) ?? 0
        batches = try c.decodeIfPresent(UInt64.self, forKey: .batches) ?? 0
        latency = try c.decodeIfPresent(Percentiles.self, forKey: .latency)
        latencySamples = try c.decodeIfPresent([UInt64].self, forKey: .latencySamples)
    }
}

struct Percentiles: Codable {
    var samples: UInt64
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double

    /// Microseconds from a histogram of nanoseconds.
    init(_ h: Histogram<UInt64>) {
        samples = h.totalCount
        p50 = Double(h.valueAtPercentile(50)) / 1000
        p99 = Double(h.valueAtPercentile(99)) / 1000
        p999 = Double(h.valueAtPercentile(99.9)) / 1000
        max = Double(h.max) / 1000
    }

    /// The 50th, 99th or 99.9th percentile, µs.
    func p(_ percentile: Double) -> Double {
        switch percentile {
        case 50: p50
        case 99: p99
        default: p999
        }
    }

    init(nanoseconds: [UInt64]) {
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for v in nanoseconds { h.record(v) }
        self.init(h)
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let data = try! JSONEncoder().encode(value)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// The measurement window, in CLOCK_MONOTONIC nanoseconds (one clock for every process), so
/// all clients of a run and the daemon's CPU figures cover the same interval.
struct Window {
    let opens: UInt64
    let closes: UInt64
}

/// One of our clients: CaptureClient, as an application would use it.
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "client", abstract: "Receive frames from captured and measure (used by `suite`).")

    @Option var socket: String
    @Option var stream = "bench"
    @Option var mode: String = "lease"
    @Option(help: "header: read the sequence stamp; checksum: CRC-32 over every byte")
    var read = "header"
    @Option(help: "CLOCK_MONOTONIC ns when counting starts") var opens: UInt64
    @Option(help: "CLOCK_MONOTONIC ns when counting ends") var closes: UInt64
    @Flag(help: "Record device-completion-to-client latency.") var latency = false
    @Flag(help: "Latest mode: spin on the ring head instead of sleeping.") var busyPoll = false
    @Flag(help: "Be told of frames by the daemon's messages, not the device's doorbell (lease mode: leases granted by the daemon, not self-served).") var noDoorbell = false

    func run() throws {
        let client = try CaptureClient(stream: stream, mode: mode == "latest" ? .latest : .lease, socketPath: socket, doorbell: !noDoorbell)
        var result = ClientResult()
        var samples: [UInt64] = []
        if latency { samples.reserveCapacity(1 << 16) }
        let window = Window(opens: opens, closes: closes)
        let checksum = read == "checksum"
        var startStats = client.statistics
        var opened = false
        var cpuAtOpen = 0.0
        while true {
            let frames = busyPoll ? [try client.nextFrameBusyPolling(timeout: .seconds(10))] : try client.nextFrames(timeout: .seconds(10))
            let now = monotonicNanoseconds()
            if now >= window.closes { break }
            if !opened && now >= window.opens {
                opened = true
                startStats = client.statistics
                cpuAtOpen = threadCPUSeconds()
            }
            if opened { result.batches += 1 }
            for frame in frames {
                if latency && opened && now > frame.timestampNanoseconds { samples.append(now - frame.timestampNanoseconds) }
                let bytes = frame.bytes
                var good = true
                if checksum {
                    good = capture_crc32(bytes.baseAddress, bytes.count) == frame.checksum || !frame.flags.contains(.checksum)
                } else if bytes.count >= 8 {
                    good = bytes.loadUnaligned(as: UInt64.self) == frame.sequence.littleEndian
                }
                if !frame.isIntact {
                    result.overwritten += 1
                } else if opened {
                    if !good { result.corrupt += 1 }
                    result.frames += 1
                    result.bytes += UInt64(bytes.count)
                }
            }
            try client.release(frames)
        }
        let end = client.statistics
        if opened { result.cpuSeconds = threadCPUSeconds() - cpuAtOpen }
        result.seconds = opened ? min(Double(monotonicNanoseconds() - window.opens), Double(window.closes - window.opens)) / 1e9 : 0
        result.dropped = end.dropped - startStats.dropped
        result.overwritten += end.overwritten - startStats.overwritten
        if latency {
            result.latency = Percentiles(nanoseconds: samples)
            result.latencySamples = samples
        }
        client.close()
        printJSON(result)
    }
}

/// The copy baseline's sender: every frame written as bytes to each client's stream socket.
struct CopyServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "copy-server", abstract: "Copy baseline sender (used by `suite`).")

    @Option var socket: String
    @Option var bytes: Int
    @Option var clients: Int

    func run() throws {
        let listener = streamSocket()
        unlink(socket)
        guard capture_unix_bind(listener, socket) == 0, listen(listener, 64) == 0 else { throw SystemError("bind/listen \(socket)") }
        var peers: [Int32] = []
        while peers.count < clients {
            let fd = accept(listener, nil, nil)
            if fd < 0 { throw SystemError("accept") }
            peers.append(fd)
        }
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
        memset(frame.baseAddress!, 0x5a, bytes)
        var sequence: UInt64 = 0
        while true {
            sequence += 1
            if bytes >= 8 { frame.storeBytes(of: sequence.littleEndian, as: UInt64.self) }
            for fd in peers {
                var sent = 0
                while sent < bytes {
                    let n = write(fd, frame.baseAddress! + sent, bytes - sent)
                    if n <= 0 { return } // a client finished: the run is over
                    sent += n
                }
            }
        }
    }
}

/// The copy baseline's receiver: reads whole frames from its stream socket and counts them.
struct CopyClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "copy-client", abstract: "Copy baseline receiver (used by `suite`).")

    @Option var socket: String
    @Option var bytes: Int
    @Option var opens: UInt64
    @Option var closes: UInt64

    func run() throws {
        let fd = streamSocket()
        var tries = 0
        while capture_unix_connect(fd, socket) != 0 {
            tries += 1
            if tries > 500 { throw SystemError("connect \(socket)") }
            usleep(10_000)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
        let window = Window(opens: opens, closes: closes)
        var result = ClientResult()
        while true {
            var got = 0
            while got < bytes {
                let n = Glibc.read(fd, buffer.baseAddress! + got, bytes - got)
                if n <= 0 { throw SystemError("read") }
                got += n
            }
            let now = monotonicNanoseconds()
            if now >= window.closes { break }
            if now >= window.opens {
                result.frames += 1
                result.bytes += UInt64(bytes)
            }
        }
        result.seconds = Double(window.closes - window.opens) / 1e9
        close(fd)
        printJSON(result)
    }
}

private func streamSocket() -> Int32 {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    precondition(fd >= 0, "socket(AF_UNIX): \(String(cString: strerror(errno)))")
    return fd
}

/// The bare eventfd wake-up alone (the suite runs it too); handy next to `taskset`.
struct WakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wake", abstract: "Measure a bare eventfd wake-up between threads and processes.")
    @Option var rate = 2000.0
    @Option var count = 4000

    func run() throws {
        for processes in [false, true] {
            let p = Percentiles(nanoseconds: try Machine.eventfdWake(processes: processes, count: count, rate: rate))
            print(String(format: "%@: p50 %.1f p99 %.1f p99.9 %.1f max %.1f us", processes ? "processes" : "threads", p.p50, p.p99, p.p999, p.max))
        }
    }
}

/// clock_gettime(CLOCK_THREAD_CPUTIME_ID) in seconds.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Writes the report and plot again from a run's JSON (after a change to the report's form).
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "render", abstract: "Rewrite docs/BENCHMARKS.md and the plot from a run's JSON.")
    @Option var results = "docs/BENCHMARKS.json"
    @Option var report = "docs/BENCHMARKS.md"
    @Option var plot = "docs/benchmarks.png"

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: results))
        try Report(results: try JSONDecoder().decode(Results.self, from: data), plotPath: plot).write(to: report)
    }
}
