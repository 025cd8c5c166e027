#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureSystem
import Foundation

/// One throughput run: a system, a workload, and what its clients got.
struct Throughput: Codable {
    var system: String        // "capture", "gstreamer", "copy"
    var payload: String       // "header", "pattern"
    var mode: String          // "lease", "latest", "-"
    var frameBytes: Int
    var clients: Int
    var perClientFps: Double  // mean over clients
    var minClientFps: Double
    var perClientBytesPerSecond: Double  // min over clients
    var perClientBytesPerCPUSecond: Double = 0  // min over clients: read speed while running
    var totalBytesPerSecond: Double
    var daemonCPUPerFrameUs: Double?     // capture: event-loop CPU / frames published
    var publishedFps: Double?
    var dropped: UInt64 = 0
    var overwritten: UInt64 = 0
    var corrupt: UInt64 = 0
    var framesPerBatch: Double?          // frames per nextFrames call (one Release each)
    var producerCPUPerFrameUs: Double?   // every thread of captured or of the GStreamer sender / frames published
}

struct Latency: Codable {
    var system: String        // "capture lease", "capture latest", "capture latest, busy-poll"
    var frameBytes: Int
    var percentiles: Percentiles
    /// CPU time the hypervisor stole during the row (the attempt kept), ms.
    var stolenMs: Double?
    var attempts: Int?
}

/// One client mode's latency rows of every frame size as one distribution: the path does not
/// depend on the frame size (the client reads a header), so a row's p99 differs from its
/// neighbour's by the machine's noise, and the mode's p99 is that of all its samples.
struct PooledLatency: Codable {
    var system: String
    var all: Percentiles
    /// The rows the host stole at most quietStealMs from.
    var quiet: Percentiles?
}

struct Results: Codable {
    var machine = ""
    var command = ""
    var date = ""
    var seconds = 0.0
    var memcpyBytesPerSecond = 0.0
    var bareRead: [Int: Double] = [:]
    var eventfdThreads: Percentiles?
    var eventfdProcesses: Percentiles?
    /// The same eventfd as a stream: every frame (as lease clients count), the newest (as latest).
    var eventfdStreamEvery: Percentiles?
    var eventfdStreamNewest: Percentiles?
    /// CPU time the hypervisor stole during the baseline slices kept, ms.
    var eventfdStolenMs: Double?
    var quietWake: QuietWake?
    var latencyRate = 0.0
    var throughput: [Throughput] = []
    var latency: [Latency] = []
    var pooledLatency: [PooledLatency]?
    var ringSetup: [RingSetupTiming] = []
    var daemonMemory: [String: Int] = [:]
    var pythonMean: PythonMeanRun?
    var recording: RecordRun?
    var guest: [GuestRun] = []
}



/// Runs every workload against capture and its peers and writes docs/BENCHMARKS.md.
struct SuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "suite", abstract: "Run the whole benchmark and write the report.")

    @Option(help: "captured to benchmark (default: next to this program)") var captured: String?
    @Option(help: "The GStreamer reader (Benchmarks/gst-peer.c, built by make bench)") var gstPeer = ".build/gst-peer"
    @Option(help: "Where libgstcapture.so is (capturesrc)") var gstPluginPath = "gstreamer/build"
    @Option(help: "Where libcapture.so.1 is, for the plugin") var libcapturePath = "libcapture/build"
    @Option var report = "docs/BENCHMARKS.md"
    @Option var plot = "docs/benchmarks.png"
    @Option(help: "Seconds each throughput run counts") var seconds = 1.5
    @Option(help: "Frames per second of the latency runs") var latencyRate = 2000.0
    @Option(help: "Seconds of each latency run") var latencySeconds = 3.0
    @Option(help: "Frame sizes in bytes") var sizes: [Int] = [4096, 65536, 1_000_000, 1 << 20, 4 << 20, 16 << 20]
    @Option(help: "Client counts") var clients: [Int] = [1, 4, 16]
    @Flag(help: "Skip the GStreamer peer") var noGstreamer = false
    @Option(help: "The C client (Benchmarks/c-client.c on libcapture, built by make bench)") var cClient = ".build/c-client"
    @Option(help: "A Python with the capture package installed (make python)") var python = ".build-python/bin/python"
    @Option(help: "The Python client") var pyClient = "Benchmarks/py-client.py"
    @Flag(help: "Skip the C and Python clients") var noLanguages = false
    @Flag(help: "Only compare the client libraries (prints, writes no report)") var onlyLanguages = false
    @Flag(help: "Only measure notification latency against the bare wake-up (prints, writes no report)") var onlyLatency = false
    @Option(help: "Seconds of sim0 capturectl record runs (0: skip recording)") var recordSeconds = 60.0
    @Option(help: "Where the recordings (and dd) write: a directory on the filesystem to measure") var recordDirectory = "/var/tmp"
    @Option(help: "Where `make vm-test` left its results (the daemon's absence is measured in the guest)") var vmResults = ".build-vm/results"

    func run() throws {
        let started = monotonicNanoseconds()
        let me = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        let binDir = URL(fileURLWithPath: me).resolvingSymlinksInPath().deletingLastPathComponent().path
        let bench = binDir + "/capture-bench"
        let capturedPath = captured ?? binDir + "/captured"
        var results = Results()
        results.machine = Machine.describe()
        results.command = "make bench  (= capture-bench suite " + CommandLine.arguments.dropFirst().joined(separator: " ") + ")"
        results.date = ISO8601DateFormatter().string(from: Date())
        results.latencyRate = latencyRate
        let gstreamer = !noGstreamer && FileManager.default.isExecutableFile(atPath: gstPeer)
        // The readers find capturesrc and libcapture in the tree.
        setenv("GST_PLUGIN_PATH", URL(fileURLWithPath: gstPluginPath).standardizedFileURL.path, 1)
        setenv("LD_LIBRARY_PATH", URL(fileURLWithPath: libcapturePath).standardizedFileURL.path, 1)
        if !gstreamer { log("GStreamer peer not found at \(gstPeer): skipped") }

        if onlyLanguages {
            try measureLanguages(captured: capturedPath, bench: bench, into: &results)
            print(Report(results: results, plotPath: plot).languagesSection())
            return
        }
        if onlyLatency {
            try measureLatency(captured: capturedPath, bench: bench, into: &results)
            let report = Report(results: results, plotPath: plot)
            print(report.targets() + report.latencySection())
            return
        }
        log("machine: \(results.machine)")
        results.memcpyBytesPerSecond = Machine.memcpyBandwidth()
        log(String(format: "memcpy %.1f GB/s", results.memcpyBytesPerSecond / 1e9))
        results.ringSetup = [RingSetupTiming.measure(hugePage: nil), RingSetupTiming.measure(hugePage: .size2M)]

        // The zero-copy signature (header payload, one client, every size) is measured in rounds
        // over all sizes, so the machine's slow drifts hit every size alike; the median counts.
        var signature: [String: [Throughput]] = [:]
        // Each size also on a device the daemon queues slots to (queue_depth) with leases granted
        // by message: the path before the device recycled its own slots, for the ratio.
        for _ in 0..<5 {
            for size in sizes {
                let slots = Self.slots
                for queued in [false, true] {
                    let daemon = try BenchDaemon(captured: capturedPath, stream: .init(frameBytes: size, frameRate: 0, payload: "header", slots: slots,
                                                                                      queueDepth: queued ? slots / 4 : nil, maxLeases: slots))
                    defer { daemon.stop() }
                    for mode in queued ? ["lease"] : ["lease", "latest"] {
                        let r = try runCapture(daemon, bench: bench, payload: "header", mode: mode, size: size, clients: 1, system: queued ? "capture, daemon-queued" : "capture")
                        signature["\(mode)\(queued ? " queued" : "") \(size)", default: []].append(r)
                        log(String(format: "signature %@%@ %8d B: %9.0f frames/s", mode, queued ? " (daemon-queued)" : "", size, r.perClientFps))
                    }
                }
            }
        }
        for size in sizes {
            let runs = signature["lease queued \(size)"] ?? []
            if !runs.isEmpty { results.throughput.append(runs.sorted { $0.perClientFps < $1.perClientFps }[runs.count / 2]) }
        }

        if !noLanguages { try measureLanguages(captured: capturedPath, bench: bench, into: &results) }

        for size in sizes {
            let slots = Self.slots
            results.bareRead[size] = Machine.bareRead(bytes: size, slots: slots)
            for payload in ["header", "pattern"] {
                // A client may lease every slot: at full speed the device then waits for
                // releases instead of filling frames no one can take (lease-limit drops).
                let stream = BenchDaemon.Stream(frameBytes: size, frameRate: 0, payload: payload, slots: slots,
                                                queueDepth: nil, maxLeases: slots)
                let daemon = try BenchDaemon(captured: capturedPath, stream: stream)
                defer { daemon.stop() }
                for n in clients {
                    for mode in ["lease", "latest"] {
                        // One client: the median of three runs (of the five signature rounds for `header`).
                        var runs = payload == "header" && n == 1 ? signature["\(mode) \(size)"] ?? [] : []
                        if runs.isEmpty {
                            runs = try (0..<(n == 1 ? 3 : 1)).map { _ in try runCapture(daemon, bench: bench, payload: payload, mode: mode, size: size, clients: n) }
                        }
                        let r = runs.sorted { $0.perClientFps < $1.perClientFps }[runs.count / 2]
                        results.throughput.append(r)
                        log(String(format: "capture %@ %@ %8d B x%2d: %9.0f frames/s/client, %6.2f GB/s, daemon %.2f us/frame",
                                   payload, mode, size, n, r.perClientFps, r.totalBytesPerSecond / 1e9, r.daemonCPUPerFrameUs ?? 0))
                        if payload == "header" && mode == "lease" && n == 16 {
                            let m = memoryBeyondRing(pid: daemon.pid)
                            results.daemonMemory["\(size)"] = m.anon + m.file
                        }
                    }
                }
                if payload == "header" && size == sizes.first {
                    let m = memoryBeyondRing(pid: daemon.pid)
                    results.daemonMemory["idle-anon"] = m.anon
                    results.daemonMemory["idle-file"] = m.file
                }
            }
            for n in clients {
                if gstreamer {
                    let g = try runGStreamer(size: size, clients: n, slots: slots)
                    results.throughput.append(g)
                    log(String(format: "gstreamer        %8d B x%2d: %9.0f frames/s/client", size, n, g.perClientFps))
                    if let c = try runCaptureSrc(captured: capturedPath, size: size, clients: n) {
                        results.throughput.append(c)
                        log(String(format: "capturesrc       %8d B x%2d: %9.0f frames/s/client", size, n, c.perClientFps))
                    }
                }
                let c = try runCopy(bench: bench, size: size, clients: n)
                results.throughput.append(c)
                log(String(format: "copy             %8d B x%2d: %9.0f frames/s/client", size, n, c.perClientFps))
            }
        }

        try measureLatency(captured: capturedPath, bench: bench, into: &results)

        if recordSeconds > 0 { try measureRecording(captured: capturedPath, seconds: recordSeconds, into: &results) }
        results.guest = GuestRun.load(from: vmResults)
        if results.guest.isEmpty { log("no guest results in \(vmResults): run make vm-test first for the daemon's-absence figures") }

        results.seconds = Double(monotonicNanoseconds() - started) / 1e9
        let json = try JSONEncoder().encode(results)
        try json.write(to: URL(fileURLWithPath: (report as NSString).deletingPathExtension + ".json"))
        try Report(results: results, plotPath: plot).write(to: report)
        log("wrote \(report) and \(plot) in \(Int(results.seconds)) s")
    }

    /// Device completion to the client holding the frame, one client at a time: on a device that
    /// recycles its slots (self-serve leases, doorbells), and, for the ratio, lease clients of a
    /// device the daemon queues slots to, granted leases by message (the path before).
    /// The bare wake-ups are sampled in slices between the rows (WakeBaselines).
    func measureLatency(captured capturedPath: String, bench: String, into results: inout Results) throws {
        var baselines = WakeBaselines()
        var samples: [String: (all: [UInt64], quiet: [UInt64])] = [:]
        defer {
            baselines.store(into: &results)
            var order: [String] = [] // the rows' order
            for l in results.latency where !order.contains(l.system) { order.append(l.system) }
            results.pooledLatency = order.filter { samples[$0] != nil }.map { name in
                let s = samples[name]!
                return PooledLatency(system: name, all: Percentiles(nanoseconds: s.all), quiet: s.quiet.isEmpty ? nil : Percentiles(nanoseconds: s.quiet))
            }
            if let p = results.eventfdProcesses { log(String(format: "eventfd wake-up between processes, %llu samples: p50 %.1f p99 %.1f us", p.samples, p.p50, p.p99)) }
        }
        let slice = max(1, Int(latencyRate * latencySeconds) / 4)
        for size in sizes {
            for queued in [false, true] {
                let runs: [(String, [String])] = queued ? [("capture lease, daemon-queued", ["--mode", "lease", "--no-doorbell"])]
                    : [("capture lease", ["--mode", "lease"]), ("capture lease, messages", ["--mode", "lease", "--no-doorbell"]),
                       ("capture latest", ["--mode", "latest"]), ("capture latest, messages", ["--mode", "latest", "--no-doorbell"]),
                       ("capture latest, busy-poll", ["--mode", "latest", "--busy-poll"])]
                // The baseline's slice for these rows, on a machine with no daemon running.
                try baselines.sample(before: size, count: slice * runs.count, rate: latencyRate)
                let stream = BenchDaemon.Stream(frameBytes: size, frameRate: latencyRate, payload: "header", slots: Self.slots,
                                                queueDepth: queued ? 4 : nil, maxLeases: 8)
                let daemon = try BenchDaemon(captured: capturedPath, stream: stream)
                defer { daemon.stop() }
                for (name, args) in runs {
                    // A busy-polling client is deployed on a core of its own: the last core is its,
                    // the daemon (with the device thread) keeps the others.
                    let busy = args.contains("--busy-poll")
                    if busy, let cpus = Self.producerCores { Self.pin(pid: daemon.pid, cpus: cpus) }
                    var attempts = 0
                    let (r, stolen) = try whileQuiet { () throws -> ClientResult in
                        attempts += 1
                        let opens = monotonicNanoseconds() + 300_000_000
                        let closes = opens + UInt64(latencySeconds * 1e9)
                        let child = try Self.child(bench, ["client", "--socket", daemon.socket, "--latency", "--opens", "\(opens)", "--closes", "\(closes)"] + args,
                                                   cpus: busy ? Self.clientCores : nil)
                        return try decode(child.collect())
                    }
                    guard let p = r.latency else { continue }
                    if let kept = r.latencySamples, !kept.isEmpty {
                        samples[name, default: ([], [])].all += kept
                        if stolen <= quietStealMs { samples[name, default: ([], [])].quiet += kept }
                    }
                    results.latency.append(Latency(system: name, frameBytes: size, percentiles: p, stolenMs: stolen, attempts: attempts))
                    log(String(format: "latency %@ %8d B: p50 %.1f p99 %.1f p99.9 %.1f us (%d attempt(s), %.0f ms stolen)", name, size, p.p50, p.p99, p.p999, attempts, stolen))
                }
            }
        }
    }

    static let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Every system is placed alike: its producer (captured and its device thread, the GStreamer
    /// sender, the copy server) on the first cores, its clients on the last one — as a bare
    /// in-process read has a core to itself. Held still, the scheduler's placement does not move
    /// the figures from run to run, and 1, 4 and 16 clients are measured under one scheme.
    static let producerCores: String? = cores > 1 ? "0-\(cores - 2)" : nil
    static let clientCores: String? = cores > 1 ? "\(cores - 1)" : nil

    /// `executable` on `cpus` (taskset), or wherever the scheduler likes.
    static func child(_ executable: String, _ arguments: [String], cpus: String?) throws -> Child {
        guard let cpus else { return try Child(executable, arguments) }
        return try Child("/usr/bin/taskset", ["-c", cpus, executable] + arguments)
    }

    /// taskset -a: every thread of `pid` onto `cpus`.
    static func pin(pid: Int32, cpus: String) {
        let t = Process()
        t.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        t.arguments = ["-a", "-p", "-c", cpus, "\(pid)"]
        t.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try? t.run()
        t.waitUntilExit()
    }

    /// The same 64 slots for every frame size (1 GiB at 16 MiB), so only the size changes.
    static let slots = 64

    func window(clients n: Int) -> (UInt64, UInt64) {
        // Room for the clients to start and connect, then the counted interval.
        let opens = monotonicNanoseconds() + 400_000_000 + UInt64(n) * 40_000_000
        return (opens, opens + UInt64(seconds * 1e9))
    }

    func sleep(until t: UInt64) {
        let now = monotonicNanoseconds()
        if t > now { usleep(UInt32((t - now) / 1000)) }
    }

    /// `n` clients of `program` against `daemon` for one counted window.
    func runCapture(_ daemon: BenchDaemon, bench: String, payload: String, mode: String, size: Int, clients n: Int,
                    program: ClientProgram? = nil, system: String = "capture") throws -> Throughput {
        let (opens, closes) = window(clients: n)
        if let cpus = Self.producerCores { Self.pin(pid: daemon.pid, cpus: cpus) }
        let program = program ?? .swift(bench: bench)
        let children = try (0..<n).map { _ in
            let (executable, arguments) = program.command(socket: daemon.socket, mode: mode, checksum: payload == "pattern", opens: opens, closes: closes)
            return try Self.child(executable, arguments, cpus: Self.clientCores)
        }
        sleep(until: opens)
        let cpu0 = daemon.eventLoopCPU, frames0 = daemon.framesPublished, all0 = processCPUNanoseconds(pid: daemon.pid)
        sleep(until: closes)
        let cpu1 = daemon.eventLoopCPU, frames1 = daemon.framesPublished, all1 = processCPUNanoseconds(pid: daemon.pid)
        let rs = try children.map { try decode($0.collect()) }
        var t = summarize(system: system, payload: payload, mode: mode, size: size, rs)
        let published = Double(frames1 - frames0)
        t.publishedFps = published / seconds
        if published > 0 {
            t.daemonCPUPerFrameUs = Double(cpu1 - cpu0) / 1000 / published
            t.producerCPUPerFrameUs = Double(all1 - all0) / 1000 / published
        }
        return t
    }

    private func runGStreamer(size: Int, clients n: Int, slots: Int) throws -> Throughput {
        let socket = "/tmp/capture-bench-gst-\(getpid()).sock"
        unlink(socket)
        // The shared area holds as many frames as our ring: the same slack for both.
        let shm = max(slots * ((size + 4095) & ~4095), 1 << 20)
        let sender = try Self.child("/usr/bin/env", ["gst-launch-1.0", "-q", "fakesrc", "sizetype=fixed", "sizemax=\(size)", "!",
                                                     "shmsink", "socket-path=\(socket)", "shm-size=\(shm)", "wait-for-connection=true", "sync=false"],
                                    cpus: Self.producerCores)
        defer { sender.stop(); unlink(socket) }
        for _ in 0..<200 where access(socket, F_OK) != 0 { usleep(10_000) }
        return try runGstReaders(source: "shm:" + socket, producer: sender.pid, system: "gstreamer", size: size, clients: n)
    }

    /// `n` pipelines `capturesrc ! fakesink` on a full-speed header stream, as `runGStreamer`
    /// runs `shmsrc ! fakesink`; nil when the plugin is not built.
    private func runCaptureSrc(captured: String, size: Int, clients n: Int) throws -> Throughput? {
        guard FileManager.default.fileExists(atPath: gstPluginPath + "/libgstcapture.so") else {
            log("capturesrc not found in \(gstPluginPath): skipped (make gstreamer builds it)")
            return nil
        }
        let slots = Self.slots
        let daemon = try BenchDaemon(captured: captured, stream: .init(frameBytes: size, frameRate: 0, payload: "header", slots: slots,
                                                                      queueDepth: nil, maxLeases: slots))
        defer { daemon.stop() }
        if let cpus = Self.producerCores { Self.pin(pid: daemon.pid, cpus: cpus) }
        return try runGstReaders(source: "capture:\(daemon.socket):bench", producer: daemon.pid, system: "capturesrc", size: size, clients: n)
    }

    /// `n` gst-peer pipelines reading `source`, counted over one window; the producer's CPU
    /// (every thread) over the same window, per frame the readers received on average.
    func runGstReaders(source: String, producer: Int32, system: String, size: Int, clients n: Int) throws -> Throughput {
        let (opens, closes) = window(clients: n)
        let readers = try (0..<n).map { _ in try Self.child(gstPeer, [source, "\(opens)", "\(closes)"], cpus: Self.clientCores) }
        sleep(until: opens)
        let cpu0 = processCPUNanoseconds(pid: producer)
        sleep(until: closes)
        let cpu1 = processCPUNanoseconds(pid: producer)
        let rs = readers.map { r in let out = r.collect(); if let d = try? decode(out) { return d }; log("GStreamer reader printed: \(out)"); return ClientResult() }
        var t = summarize(system: system, payload: "header", mode: "-", size: size, rs)
        let frames = Double(rs.map(\.frames).max() ?? 0)
        if frames > 0 { t.producerCPUPerFrameUs = Double(cpu1 - cpu0) / 1000 / frames }
        return t
    }

    private func runCopy(bench: String, size: Int, clients n: Int) throws -> Throughput {
        let socket = "/tmp/capture-bench-copy-\(getpid()).sock"
        unlink(socket)
        let server = try Self.child(bench, ["copy-server", "--socket", socket, "--bytes", "\(size)", "--clients", "\(n)"], cpus: Self.producerCores)
        defer { server.stop(); unlink(socket) }
        let (opens, closes) = window(clients: n)
        let children = try (0..<n).map { _ in
            try Self.child(bench, ["copy-client", "--socket", socket, "--bytes", "\(size)", "--opens", "\(opens)", "--closes", "\(closes)"],
                           cpus: Self.clientCores)
        }
        let rs = children.map { (try? decode($0.collect())) ?? ClientResult() }
        return summarize(system: "copy", payload: "header", mode: "-", size: size, rs)
    }

    func summarize(system: String, payload: String, mode: String, size: Int, _ rs: [ClientResult]) -> Throughput {
        let fps = rs.map { $0.seconds > 0 ? Double($0.frames) / $0.seconds : 0 }
        let bps = rs.map { $0.seconds > 0 ? Double($0.bytes) / $0.seconds : 0 }
        let cpu = rs.map { $0.cpuSeconds > 0 ? Double($0.bytes) / $0.cpuSeconds : 0 }
        return Throughput(system: system, payload: payload, mode: mode, frameBytes: size, clients: rs.count,
                          perClientFps: fps.reduce(0, +) / Double(max(fps.count, 1)), minClientFps: fps.min() ?? 0,
                          perClientBytesPerSecond: bps.min() ?? 0, perClientBytesPerCPUSecond: cpu.min() ?? 0,
                          totalBytesPerSecond: bps.reduce(0, +),
                          dropped: rs.map(\.dropped).reduce(0, +), overwritten: rs.map(\.overwritten).reduce(0, +),
                          corrupt: rs.map(\.corrupt).reduce(0, +),
                          framesPerBatch: rs.map(\.batches).reduce(0, +) > 0 ? Double(rs.map(\.frames).reduce(0, +)) / Double(rs.map(\.batches).reduce(0, +)) : nil)
    }
}

func decode(_ text: String) throws -> ClientResult {
    guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
        throw SystemError("a benchmark client printed no result: \(text.prefix(200))", errno: 0)
    }
    return try JSONDecoder().decode(ClientResult.self, from: Data(line.utf8))
}

func log(_ text: String) {
    FileHandle.standardError.write(Data(("capture-bench: " + text + "\n").utf8))
}
