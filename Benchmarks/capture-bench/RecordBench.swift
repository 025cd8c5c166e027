#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import Foundation

/// `capturectl record` measured: sim0 as shipped (1 MB frames, 1,000/s: 1 GB/s) for a minute,
/// and the recorder's write bandwidth on a full-speed stream against `dd oflag=direct` with the
/// same block size to the same filesystem, in the same run.
struct RecordRun: Codable {
    var seconds: Double
    /// sim0 at 1 GB/s.
    var frames: UInt64
    var published: UInt64
    var droppedByRecorder: UInt64       // lease_limit: the recorder (the disk) fell behind
    var droppedByDevice: UInt64
    var bytes: Double
    var daemonCPUPerGB: Double          // every thread of captured: the event loop and the device drawing the picture
    var recorderCPUPerGB: Double
    /// The full-speed comparison.
    var blockBytes: Int
    var recorderBytesPerSecond: Double
    var ddBytesPerSecond: Double
    var directory: String
}

extension SuiteCommand {
    func measureRecording(captured: String, seconds: Double, into results: inout Results) throws {
        let capturectl = URL(fileURLWithPath: captured).deletingLastPathComponent().appendingPathComponent("capturectl").path
        guard FileManager.default.isExecutableFile(atPath: capturectl) else {
            log("capturectl not found next to captured: recording skipped")
            return
        }
        let base = recordDirectory + "/capture-bench-record-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }

        // 1. sim0 as shipped, for `seconds`.
        let sim0 = try BenchDaemon(captured: captured, stream: .init(frameBytes: 1_000_000, frameRate: 1000, payload: "image", slots: 96,
                                                                    queueDepth: nil, maxLeases: 16,
                                                                    extra: "[stream.bench.format]\npixel_format = \"GRAY8\"\nwidth = 1000\nheight = 1000"))
        let published0 = sim0.framesPublished, cpu0 = processCPUNanoseconds(pid: sim0.pid)
        let record = try Child(capturectl, ["record", "bench", base + "/sim0", "--socket", sim0.socket, "--duration", "\(seconds)s"])
        let out = record.collect()
        let published1 = sim0.framesPublished, cpu1 = processCPUNanoseconds(pid: sim0.pid)
        sim0.stop()
        let summary = RecordSummary(out)
        log("record sim0: " + out.split(separator: "\n").joined(separator: "; "))
        try? FileManager.default.removeItem(atPath: base + "/sim0")

        // 2. Write bandwidth: the recorder on a full-speed stream of slot-sized frames (the
        // device writes only a stamp), then dd with that block size, for the same time.
        let block = 1_003_520
        let fast = try BenchDaemon(captured: captured, stream: .init(frameBytes: block, frameRate: 0, payload: "header", slots: 96,
                                                                    queueDepth: nil, maxLeases: 64))
        let window = max(5, seconds / 3)
        let fastOut = try Child(capturectl, ["record", "bench", base + "/fast", "--socket", fast.socket, "--duration", "\(window)s"]).collect()
        fast.stop()
        let fastSummary = RecordSummary(fastOut)
        log("record at full speed: " + fastOut.split(separator: "\n").joined(separator: "; "))
        try? FileManager.default.removeItem(atPath: base + "/fast")
        // As many bytes as the recorder wrote in the window, within half the free space; the
        // figure is what dd really wrote (a full disk would end it early).
        var fs = statvfs()
        let free = statvfs(base, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : 0
        let count = max(1, Int(min(fastSummary.bytesPerSecond * window, free / 2)) / block)
        let ddStart = monotonicNanoseconds()
        let dd = try Child("/bin/dd", ["if=/dev/zero", "of=\(base)/dd", "bs=\(block)", "count=\(count)", "oflag=direct", "status=none"])
        _ = dd.collect()
        let ddSeconds = Double(monotonicNanoseconds() - ddStart) / 1e9
        let ddBytes = Double((try? FileManager.default.attributesOfItem(atPath: base + "/dd")[.size] as? Int) ?? 0)
        try? FileManager.default.removeItem(atPath: base + "/dd")
        log(String(format: "dd oflag=direct bs=%d: %.2f GB/s", block, ddBytes / ddSeconds / 1e9))

        let gb = summary.bytes / 1e9
        results.recording = RecordRun(seconds: seconds, frames: summary.frames, published: published1 - published0,
                                      droppedByRecorder: summary.leaseLimit, droppedByDevice: summary.deviceOverrun, bytes: summary.bytes,
                                      daemonCPUPerGB: gb > 0 ? Double(cpu1 - cpu0) / 1e9 / gb : 0, recorderCPUPerGB: summary.cpuPerGB,
                                      blockBytes: block, recorderBytesPerSecond: fastSummary.bytesPerSecond,
                                      ddBytesPerSecond: ddBytes / ddSeconds, directory: recordDirectory)
    }
}

/// What `capturectl record` printed.
struct RecordSummary {
    var frames: UInt64 = 0
    var bytes = 0.0
    var bytesPerSecond = 0.0
    var leaseLimit: UInt64 = 0
    var deviceOverrun: UInt64 = 0
    var cpuPerGB = 0.0

    init(_ text: String) {
        func number(after key: String, in line: Substring) -> Double? {
            guard let r = line.range(of: key) else { return nil }
            return Double(line[r.upperBound...].prefix { "0123456789.".contains($0) })
        }
        for line in text.split(separator: "\n") {
            if line.hasPrefix("recorded ") {
                frames = UInt64(number(after: "recorded ", in: line) ?? 0)
                bytes = (number(after: "frames (", in: line) ?? 0) * 1e9
                // "in 20.1 s (1.44 GB/s)": " s (" — "frames (" also ends in "s (".
                bytesPerSecond = (number(after: " s (", in: line) ?? 0) * 1e9
            }
            if line.hasPrefix("dropped") {
                leaseLimit = UInt64(number(after: "lease limit reached ", in: line) ?? 0)
                deviceOverrun = UInt64(number(after: "device overrun ", in: line) ?? 0)
            }
            if line.hasPrefix("recorder CPU") { cpuPerGB = number(after: "s (", in: line) ?? 0 }
        }
    }
}
