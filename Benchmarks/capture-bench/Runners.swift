#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureSystem
import Foundation

/// Child processes of the suite: started, then collected or stopped; none outlives a run.
final class Child {
    let process = Process()
    private let output = Pipe()

    init(_ executable: String, _ arguments: [String], quiet: Bool = true) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        if quiet { process.standardError = FileHandle(forWritingAtPath: "/dev/null") }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for the child and returns what it printed.
    func collect() -> String {
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Nanoseconds thread `tid` of `pid` has run (schedstat's first field): precise, unlike ticks.
func threadCPUNanoseconds(pid: Int32, tid: Int32) -> UInt64 {
    guard let text = readWholeFile("/proc/\(pid)/task/\(tid)/schedstat") else { return 0 }
    return UInt64(text.split(separator: " ").first ?? "0") ?? 0
}

/// Nanoseconds every thread of `pid` has run (the sum of their schedstat).
func processCPUNanoseconds(pid: Int32) -> UInt64 {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.compactMap { Int32($0) }.map { threadCPUNanoseconds(pid: pid, tid: $0) }.reduce(0, +)
}

/// RssAnon + RssFile of a process in bytes: its memory beyond the shared ring (RssShmem).
func memoryBeyondRing(pid: Int32) -> (anon: Int, file: Int) {
    let status = readWholeFile("/proc/\(pid)/status") ?? ""
    func kib(_ key: String) -> Int {
        status.split(separator: "\n").first { $0.hasPrefix(key) }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } } ?? 0
    }
    return (kib("RssAnon:") * 1024, kib("RssFile:") * 1024)
}

/// captured on a private socket with one synthetic stream named `bench`.
final class BenchDaemon {
    let directory: String
    let socket: String
    let child: Child

    struct Stream {
        var frameBytes: Int
        var frameRate: Double
        var payload: String
        var slots: Int
        var queueDepth: Int?
        var maxLeases: Int
        /// More configuration after the stream's keys (a [stream.bench.format] table).
        var extra = ""
    }

    init(captured: String, stream s: Stream) throws {
        var template = Array("/tmp/capture-bench-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw SystemError("mkdtemp") }
        directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        socket = directory + "/capture.sock"
        let config = """
        [daemon]
        max_clients = 64
        lease_timeout_ms = 60000
        client_timeout_ms = 60000
        [stream.bench]
        device = "synthetic"
        frame_bytes = \(s.frameBytes)
        frame_rate = \(s.frameRate)
        payload = "\(s.payload)"
        \(s.queueDepth.map { "queue_depth = \($0)" } ?? "")
        max_leases = \(s.maxLeases)
        ring.slots = \(s.slots)
        ring.lock = "best-effort"
        \(s.extra)
        """
        try config.write(toFile: directory + "/capture.toml", atomically: true, encoding: .utf8)
        child = try Child(captured, ["--config", directory + "/capture.toml", "--socket", socket])
        for _ in 0..<500 {
            if (try? CaptureClient.status(socketPath: socket)) != nil { return }
            if !child.process.isRunning { break }
            usleep(10_000)
        }
        child.stop()
        throw SystemError("captured did not start (config \(directory)/capture.toml)", errno: 0)
    }

    var pid: Int32 { child.pid }
    /// The event loop runs on captured's main thread.
    var eventLoopCPU: UInt64 { threadCPUNanoseconds(pid: pid, tid: pid) }
    var framesPublished: UInt64 { (try? CaptureClient.status(socketPath: socket))?.streams.first?.frames ?? 0 }

    func stop() {
        kill(pid, SIGTERM)
        child.process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
