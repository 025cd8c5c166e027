#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCaptureBench
import CCapturePayload
import CCaptureShim
import Foundation

/// The machine's own limits, measured in this process: no service in between.
enum Machine {
    /// "AMD EPYC, 2 cores, 24 GiB, Linux 6.18.0" and the like.
    static func describe() -> String {
        let cpuinfo = readWholeFile("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let memKiB = (readWholeFile("/proc/meminfo") ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return "\(model), \(cores) cores, \(memKiB / 1024 / 1024) GiB, Linux \(release)"
    }

    /// memcpy(3) bandwidth between two 64 MiB buffers (out of cache), bytes per second.
    static func memcpyBandwidth() -> Double {
        let bytes = 64 << 20
        _ = capture_bench_memcpy_ns(bytes, 2)
        let rounds: Int32 = 16
        let ns = capture_bench_memcpy_ns(bytes, rounds)
        return Double(bytes) * Double(rounds) / (Double(ns) / 1e9)
    }

    /// A bare in-process read of `bytes` (CRC-32 over every byte, as the benchmark clients do),
    /// over as many distinct frames as a ring of `slots` holds, so caches behave alike.
    static func bareRead(bytes: Int, slots: Int, seconds: Double = 0.25) -> Double {
        let stride = (bytes + 4095) & ~4095
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * slots, alignment: 4096)
        defer { buffer.deallocate() }
        for s in 0..<slots { _ = capture_pattern_fill(buffer.baseAddress! + s * stride, bytes, UInt64(s)) }
        // The best of three: the machine is noisy, and a bare read has nothing to wait for.
        var best = 0.0
        for _ in 0..<3 {
            var total = 0
            var sink: UInt32 = 0
            let start = monotonicNanoseconds()
            let end = start + UInt64(seconds * 1e9)
            var s = 0
            while monotonicNanoseconds() < end {
                sink ^= capture_crc32(buffer.baseAddress! + s * stride, bytes)
                total += bytes
                s = (s + 1) % slots
            }
            if sink == 0x1234_5678 { print("") } // keep the work
            best = max(best, Double(total) / (Double(monotonicNanoseconds() - start) / 1e9))
        }
        return best
    }

    /// One-way wake-up latencies (ns) of a bare eventfd at `rate` wake-ups per second.
    static func eventfdWake(processes: Bool, count: Int, rate: Double) throws -> [UInt64] {
        var latencies = [UInt64](repeating: 0, count: count)
        guard capture_bench_eventfd_wake(processes ? 1 : 0, Int32(count), UInt64(1e9 / rate), &latencies) == 0 else {
            throw SystemError("eventfd wake-up benchmark")
        }
        return latencies
    }

    /// The same eventfd as a stream of frames between processes (ns): every frame counted, or
    /// the newest of each wake-up (capture_bench_eventfd_stream).
    static func eventfdStream(newestOnly: Bool, count: Int, rate: Double) throws -> [UInt64] {
        var latencies = [UInt64](repeating: 0, count: count)
        let filled = capture_bench_eventfd_stream(newestOnly ? 1 : 0, Int32(count), UInt64(1e9 / rate), &latencies)
        guard filled > 0 else { throw SystemError("eventfd stream benchmark") }
        return Array(latencies.prefix(Int(filled)))
    }
}

/// At most this much CPU time stolen by the host (ms) during a latency row or baseline slice
/// counts as a quiet machine.
let quietStealMs = 20.0

/// The bare wake-up from the baseline slices measured on a quiet machine (quietStealMs).
struct QuietWake: Codable {
    var processes: Percentiles
    var streamEvery: Percentiles?
    var streamNewest: Percentiles?
    /// The ping-pong's quiet slices before each frame size's rows, on their own.
    var processesBySize: [Int: Percentiles]?
}

/// Runs `measure` up to `attempts` times until the hypervisor steals at most `quietMs` of CPU
/// time during it; the attempt with the least steal, and that steal. A latency tail measured
/// while the host takes the CPUs away for tens of milliseconds is the host's, for the
/// baseline and the rows alike; both are held to this rule.
func whileQuiet<T>(attempts: Int = 4, quietMs: Double = quietStealMs, _ measure: () throws -> T) rethrows -> (T, stolenMs: Double) {
    var best: (T, Double)?
    for _ in 0..<attempts {
        let s0 = stolenMilliseconds()
        let r = try measure()
        let stolen = stolenMilliseconds() - s0
        if best == nil || stolen < best!.1 { best = (r, stolen) }
        if stolen <= quietMs { break }
    }
    return best!
}

/// The bare eventfd wake-ups the latency targets are ratios of, sampled in slices between the
/// rows they are set against: a slice before each frame size's rows, so the baseline and the
/// rows see the same machine (its noise comes and goes over minutes, and a baseline measured
/// once, minutes away, made the p99 ratios a matter of luck either way).
struct WakeBaselines {
    enum Kind: CaseIterable {
        /// Between threads, between processes as a ping-pong, as a stream counting every frame
        /// or the newest of each wake-up.
        case threads, processes, streamEvery, streamNewest

        func measure(count: Int, rate: Double) throws -> [UInt64] {
            switch self {
            case .threads: try Machine.eventfdWake(processes: false, count: count, rate: rate)
            case .processes: try Machine.eventfdWake(processes: true, count: count, rate: rate)
            case .streamEvery: try Machine.eventfdStream(newestOnly: false, count: count, rate: rate)
            case .streamNewest: try Machine.eventfdStream(newestOnly: true, count: count, rate: rate)
            }
        }
    }

    struct Slice {
        var kind: Kind
        /// The frame size of the rows it was measured before.
        var frameBytes: Int
        var samples: [UInt64]
        /// CPU time the hypervisor stole during it, ms.
        var stolenMs: Double
        var quiet: Bool { stolenMs <= quietStealMs }
    }

    var slices: [Slice] = []

    /// One slice of each kind before the rows of `frameBytes`, each retried while the hypervisor
    /// steals CPU time during it (whileQuiet).
    mutating func sample(before frameBytes: Int, count: Int, rate: Double) throws {
        for kind in Kind.allCases {
            let (samples, stolen) = try whileQuiet { try kind.measure(count: count, rate: rate) }
            slices.append(Slice(kind: kind, frameBytes: frameBytes, samples: samples, stolenMs: stolen))
        }
    }

    /// Every sample of `kind`'s slices that pass `keep`, as one distribution.
    func pooled(_ kind: Kind, _ keep: (Slice) -> Bool = { _ in true }) -> Percentiles? {
        let samples = slices.filter { $0.kind == kind && keep($0) }.flatMap(\.samples)
        return samples.isEmpty ? nil : Percentiles(nanoseconds: samples)
    }

    func store(into results: inout Results) {
        results.eventfdThreads = pooled(.threads)
        results.eventfdProcesses = pooled(.processes)
        results.eventfdStreamEvery = pooled(.streamEvery)
        results.eventfdStreamNewest = pooled(.streamNewest)
        results.eventfdStolenMs = slices.map(\.stolenMs).reduce(0, +)
        guard let quiet = pooled(.processes, \.quiet) else { return }
        var bySize: [Int: Percentiles] = [:]
        for size in Set(slices.map(\.frameBytes)) {
            bySize[size] = pooled(.processes) { $0.quiet && $0.frameBytes == size }
        }
        results.quietWake = QuietWake(processes: quiet, streamEvery: pooled(.streamEvery, \.quiet),
                                      streamNewest: pooled(.streamNewest, \.quiet), processesBySize: bySize)
    }
}

/// Time to make a ring ready for a device, by step, as the daemon does it.
struct RingSetupTiming: Codable {
    var pageName: String
    var available: Bool
    var why = ""
    var createMs = 0.0   // memfd_create + ftruncate + mmap
    var populateMs = 0.0 // MADV_POPULATE_WRITE
    var lockMs = 0.0     // mlock
    var sealMs = 0.0     // F_ADD_SEALS
    var totalMs: Double { createMs + populateMs + lockMs + sealMs }

    /// 1 GiB with 4 KiB pages, or with 2 MiB hugepages (reserved for the measurement as root,
    /// and given back).
    static func measure(hugePage: Memfd.HugePage?) -> RingSetupTiming {
        let bytes = 1 << 30
        var t = RingSetupTiming(pageName: hugePage == nil ? "4 KiB pages" : "2 MiB hugepages", available: true)
        var restoreHugepages: String?
        let nrPath = "/proc/sys/vm/nr_hugepages"
        if hugePage != nil {
            let before = (readWholeFile(nrPath) ?? "0").trimmingCharacters(in: .whitespacesAndNewlines)
            let want = (Int(before) ?? 0) + 512
            if (try? "\(want)\n".write(toFile: nrPath, atomically: false, encoding: .utf8)) != nil { restoreHugepages = before }
            let free = Int((readWholeFile("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") ?? "0").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            if free < 512 {
                if let restoreHugepages { try? "\(restoreHugepages)\n".write(toFile: nrPath, atomically: false, encoding: .utf8) }
                return RingSetupTiming(pageName: t.pageName, available: false, why: "only \(free) free 2 MiB hugepages (needs root to reserve 512)")
            }
        }
        defer { if let restoreHugepages { try? "\(restoreHugepages)\n".write(toFile: nrPath, atomically: false, encoding: .utf8) } }
        do {
            var start = monotonicNanoseconds()
            func lap() -> Double { let now = monotonicNanoseconds(); defer { start = now }; return Double(now - start) / 1e6 }
            let fd = try Memfd.create(name: "capture-bench-ring", hugePage: hugePage)
            defer { fd.close() }
            try Memfd.setSize(fd, bytes: bytes)
            try Memfd.addSeals(fd, [.shrink, .grow])
            let mapping = try Mapping(sharing: fd, length: bytes, protection: [.read, .write])
            t.createMs = lap()
            try mapping.populateWrite()
            t.populateMs = lap()
            try mapping.lock(offset: 0, length: bytes)
            t.lockMs = lap()
            try Memfd.addSeals(fd, Memfd.Seals.ring)
            t.sealMs = lap()
            mapping.unmap()
        } catch {
            return RingSetupTiming(pageName: t.pageName, available: false, why: "\(error)")
        }
        return t
    }
}
