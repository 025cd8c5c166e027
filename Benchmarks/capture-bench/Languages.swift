import CaptureSystem
import Foundation

/// Which client library a run's client processes use: the Swift client (`capture-bench
/// client`), libcapture (Benchmarks/c-client.c) or the Python package (Benchmarks/py-client.py).
/// All three count the same window and print the same JSON line.
enum ClientProgram {
    case swift(bench: String)
    case c(path: String)
    case python(interpreter: String, script: String, mean: Bool)

    func command(socket: String, stream: String = "bench", mode: String, checksum: Bool, opens: UInt64, closes: UInt64) -> (String, [String]) {
        let common = ["--socket", socket, "--stream", stream, "--mode", mode, "--opens", "\(opens)", "--closes", "\(closes)"]
        switch self {
        case .swift(let bench): return (bench, ["client", "--read", checksum ? "checksum" : "header"] + common)
        case .c(let path): return (path, common)
        case .python(let interpreter, let script, let mean): return (interpreter, [script] + common + (mean ? ["--mean"] : []))
        }
    }
}

/// sim0 (1,000,000-byte GRAY8 pictures at 1,000 frames/s) read by the Python package, the mean
/// of every frame computed with NumPy on the ring's own memory.
struct PythonMeanRun: Codable {
    var frameRate: Double
    var seconds: Double
    var frames: UInt64
    var dropped: UInt64
    var published: UInt64
    var cpuPerFrameUs: Double
}

extension SuiteCommand {
    /// The C client against the Swift client (header payload, lease mode, one client, every
    /// size, interleaved rounds: the median counts), the Python client's per-frame cost at
    /// 4 KiB in the same rounds, and Python keeping up with sim0.
    func measureLanguages(captured: String, bench: String, into results: inout Results) throws {
        guard FileManager.default.isExecutableFile(atPath: cClient) else {
            log("C client not found at \(cClient): languages skipped (make bench builds it)")
            return
        }
        let havePython = FileManager.default.isExecutableFile(atPath: python)
        if !havePython { log("\(python) not found: the Python client is skipped (make python installs it)") }
        var runs: [String: [Throughput]] = [:]
        for _ in 0..<3 {
            for size in sizes {
                let daemon = try BenchDaemon(captured: captured, stream: .init(frameBytes: size, frameRate: 0, payload: "header", slots: Self.slots,
                                                                              queueDepth: nil, maxLeases: Self.slots))
                defer { daemon.stop() }
                var programs: [(String, ClientProgram)] = [("Swift client", .swift(bench: bench)), ("C client", .c(path: cClient))]
                if havePython && size == 4096 { programs.append(("Python client", .python(interpreter: python, script: pyClient, mean: false))) }
                for (system, program) in programs {
                    let r = try runCapture(daemon, bench: bench, payload: "header", mode: "lease", size: size, clients: 1, program: program, system: system)
                    runs["\(system) \(size)", default: []].append(r)
                    log(String(format: "%@ %8d B: %9.0f frames/s, daemon %.2f µs/frame, %.1f frames/batch", system, size, r.perClientFps,
                                      r.daemonCPUPerFrameUs ?? 0, r.framesPerBatch ?? 0))
                }
            }
        }
        for (_, rs) in runs.sorted(by: { $0.key < $1.key }) {
            results.throughput.append(rs.sorted { $0.perClientFps < $1.perClientFps }[rs.count / 2])
        }
        if havePython { results.pythonMean = try measurePythonMean(captured: captured) }
    }

    private func measurePythonMean(captured: String, seconds: Double = 10) throws -> PythonMeanRun {
        let rate = 1000.0
        // sim0 as config/capture.toml ships it.
        let daemon = try BenchDaemon(captured: captured, stream: .init(frameBytes: 1_000_000, frameRate: rate, payload: "image", slots: 96,
                                                                      queueDepth: nil, maxLeases: 16,
                                                                      extra: "[stream.bench.format]\npixel_format = \"GRAY8\"\nwidth = 1000\nheight = 1000"))
        defer { daemon.stop() }
        if let cpus = Self.producerCores { Self.pin(pid: daemon.pid, cpus: cpus) }
        let opens = monotonicNanoseconds() + 1_500_000_000
        let closes = opens + UInt64(seconds * 1e9)
        let (executable, arguments) = ClientProgram.python(interpreter: python, script: pyClient, mean: true)
            .command(socket: daemon.socket, mode: "lease", checksum: false, opens: opens, closes: closes)
        let child = try Self.child(executable, arguments, cpus: Self.clientCores)
        sleep(until: opens)
        let published0 = daemon.framesPublished
        sleep(until: closes)
        let published1 = daemon.framesPublished
        let r = try decode(child.collect())
        let run = PythonMeanRun(frameRate: rate, seconds: seconds, frames: r.frames, dropped: r.dropped, published: published1 - published0,
                                cpuPerFrameUs: r.frames > 0 ? r.cpuSeconds / Double(r.frames) * 1e6 : 0)
        log(String(format: "Python, NumPy mean of every sim0 frame: %llu of %llu published frames, %llu dropped, %.0f µs CPU/frame",
                   run.frames, run.published, run.dropped, run.cpuPerFrameUs))
        return run
    }
}
