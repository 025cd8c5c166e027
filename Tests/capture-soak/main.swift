// capture-soak: the real daemon for MINUTES under a randomized mix of verifying clients and
// of everything that should not hurt them, then a report (docs/RELIABILITY.md).
//
//   capture-soak [--minutes N] [--seed S] [--bin DIR] [--frame-bytes B] [--rate R]
//
// Verifying clients (capture-testclient verify): lease, latest with messages, latest with a
// doorbell, latest busy-polling; each checks every byte, the order, and (lease) that every gap
// was reported. Chaos, one event every 1-4 s: a verifier SIGKILLed and replaced, a status
// flood, connections sending garbage, idle connections from another uid, a client tampering
// with its ring and doorbell, a CPU hog on both cores, the daemon SIGSTOPped for 20-400 ms.
// Exit status 0 only with 0 corrupt frames, 0 unreported gaps, and flat descriptor and thread
// counts in the daemon.
#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import CaptureTestSupport
import Foundation

struct Options {
    var minutes = 1.0
    var seed = UInt64(monotonicNanoseconds() % 1_000_000)
    var bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    var frameBytes = 262_147
    var rate = 500.0

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            let v = args.popFirst() ?? ""
            switch a {
            case "--minutes": minutes = Double(v) ?? minutes
            case "--seed": seed = UInt64(v) ?? seed
            case "--bin": bin = v
            case "--frame-bytes": frameBytes = Int(v) ?? frameBytes
            case "--rate": rate = Double(v) ?? rate
            default:
                print("usage: capture-soak [--minutes N] [--seed S] [--bin DIR] [--frame-bytes B] [--rate R]")
                exit(2)
            }
        }
    }
}

func say(_ text: String) {
    let stamp = String(format: "%7.1f", Double(monotonicNanoseconds() - started) / 1e9)
    print("[\(stamp) s] \(text)")
    fflush(nil)
}

let started = monotonicNanoseconds()
let options = Options()
var rng = SplitMix(seed: options.seed)

// MARK: the daemon

var template = Array("/tmp/capture-soak-XXXXXX".utf8CString)
guard mkdtemp(&template) != nil else { fatalError("mkdtemp") }
let dir = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
chmod(dir, 0o755)
let socketPath = dir + "/capture.sock"
let config = """
    [daemon]
    lease_timeout_ms = 2000
    client_timeout_ms = 3000
    hello_timeout_ms = 2000
    [stream.sim0]
    device = "synthetic"
    frame_bytes = \(options.frameBytes)
    frame_rate = \(options.rate)
    payload = "pattern"
    max_leases = 8
    ring.slots = 64
    ring.lock = "best-effort"
    """
try config.write(toFile: dir + "/capture.toml", atomically: true, encoding: .utf8)

func spawn(_ tool: String, _ arguments: [String], output: String? = nil) -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool.hasPrefix("/") ? tool : options.bin + "/" + tool)
    p.arguments = arguments
    // forWritingAtPath opens only a file that exists: create it, or the output is lost.
    if let output, !FileManager.default.fileExists(atPath: output) { _ = FileManager.default.createFile(atPath: output, contents: nil) }
    let sink = FileHandle(forWritingAtPath: output ?? "/dev/null") ?? FileHandle.nullDevice
    p.standardOutput = sink
    p.standardError = sink
    do { try p.run() } catch { say("cannot start \(tool): \(error)"); exit(1) }
    return p
}

FileManager.default.createFile(atPath: dir + "/captured.log", contents: nil)
let daemon = spawn("captured", ["--config", dir + "/capture.toml", "--socket", socketPath], output: dir + "/captured.log")
func status() -> StatusReport? { try? CaptureClient.status(socketPath: socketPath) }
for _ in 0..<200 where status() == nil { usleep(50_000) }
guard status() != nil else { say("captured did not start; log in \(dir)/captured.log"); exit(1) }
chmod(socketPath, 0o666) // the idle attacker runs as nobody

struct Vitals: CustomStringConvertible {
    var fds = 0, threads = 0, rssKB = 0
    init(pid: Int32) {
        fds = openDescriptorCount(pid: pid) ?? -1
        let text = readWholeFile("/proc/\(pid)/status") ?? ""
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.first == "Threads:" { threads = Int(parts[1]) ?? -1 }
            if parts.first == "VmRSS:" { rssKB = Int(parts[1]) ?? -1 }
        }
    }
    var description: String { "\(fds) descriptors, \(threads) threads, RSS \(rssKB / 1024) MiB" }
}

// MARK: verifiers

@MainActor
final class Verifier {
    let mode: String
    var process: Process
    var report: String
    static var count = 0

    init(mode: String) {
        self.mode = mode
        (process, report) = Verifier.start(mode)
    }

    static func start(_ mode: String) -> (Process, String) {
        count += 1
        let report = dir + "/verify-\(count)-\(mode).json"
        return (spawn("capture-testclient", ["verify", socketPath, "sim0", mode, report], output: dir + "/verify-\(count)-\(mode).log"), report)
    }

    /// SIGKILL (its last half-second of tally is lost with it) and a fresh one in its place.
    func killAndReplace() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        finished.append(report)
        (process, report) = Verifier.start(mode)
    }
}

var finished: [String] = []
let modes = ["lease", "lease", "latest", "doorbell", "busypoll"]
let verifiers = modes.map(Verifier.init)
sleep(3)
guard let first = status() else { say("captured went away"); exit(1) }
// The status connection just used may still be open in captured for a moment: count the
// descriptors once it has closed (the fewest of a few samples).
var startVitals = Vitals(pid: daemon.processIdentifier)
for _ in 0..<5 {
    usleep(200_000)
    let sample = Vitals(pid: daemon.processIdentifier)
    if sample.fds < startVitals.fds { startVitals = sample }
}
say("soak for \(options.minutes) min, seed \(options.seed), \(options.frameBytes)-byte frames at \(options.rate)/s, \(verifiers.count) verifiers; captured: \(startVitals)")

// MARK: chaos

var events: [String: Int] = [:]
var stopDrops: UInt64 = 0
var chaos: [Process] = []
let end = started + UInt64(options.minutes * 60e9)
while monotonicNanoseconds() < end && daemon.isRunning {
    usleep(UInt32(1_000_000 + rng.next() % 3_000_000))
    chaos.removeAll { !$0.isRunning }
    let event = ["kill", "flood", "garbage", "idle", "tamper", "hog", "stop"][Int(rng.next() % 7)]
    events[event, default: 0] += 1
    switch event {
    case "kill":
        let v = verifiers[Int(rng.next() % UInt64(verifiers.count))]
        say("SIGKILL the \(v.mode) verifier")
        v.killAndReplace()
    case "flood":
        say("status flood")
        chaos.append(spawn("capture-testclient", ["status-flood", socketPath, "64", "2"]))
        chaos.append(spawn("capture-testclient", ["status-flood", socketPath, "64", "2", "noread"]))
    case "garbage":
        say("garbage from 20 connections")
        chaos.append(spawn("capture-testclient", ["garbage", socketPath, "\(rng.next() % 1_000_000)", "20"], output: dir + "/garbage.log"))
    case "idle":
        say("40 idle connections from uid 65534")
        chaos.append(spawn("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", options.bin + "/capture-testclient", "idle", socketPath, "40", "3"]))
    case "tamper":
        say("a client tampers with its ring and doorbell")
        chaos.append(spawn("capture-testclient", ["tamper", socketPath, "sim0", "2"]))
    case "hog":
        say("CPU hog on both cores for 3 s")
        chaos += (0..<2).map { _ in spawn("capture-testclient", ["hog", "3"]) }
    default:
        let ms = 20 + rng.next() % 380
        let before = status()?.streams.first?.dropped ?? 0
        say("SIGSTOP captured for \(ms) ms")
        kill(daemon.processIdentifier, SIGSTOP)
        usleep(UInt32(ms * 1000))
        kill(daemon.processIdentifier, SIGCONT)
        usleep(500_000)
        stopDrops += (status()?.streams.first?.dropped ?? before) - before
    }
}
for p in chaos { p.waitUntilExit() }
guard daemon.isRunning else { say("captured died; log in \(dir)/captured.log"); exit(1) }
// Let every descriptor the chaos left behind close, then compare with the start.
var endVitals = Vitals(pid: daemon.processIdentifier)
for _ in 0..<40 {
    sleep(1)
    endVitals = Vitals(pid: daemon.processIdentifier)
    if endVitals.fds == startVitals.fds { break }
}
let last = status()
for v in verifiers {
    kill(v.process.processIdentifier, SIGTERM)
    v.process.waitUntilExit()
    finished.append(v.report)
}
kill(daemon.processIdentifier, SIGTERM)
daemon.waitUntilExit()

// MARK: the report

var total = VerifyTotals()
for path in finished {
    guard let data = FileManager.default.contents(atPath: path), let r = try? JSONDecoder().decode(VerifyReport.self, from: data) else { continue }
    total.add(r)
}
let deviceDrops = (last?.streams.first?.dropped ?? 0) - first.streams[0].dropped
print("""

    capture-soak report: \(String(format: "%.1f", Double(monotonicNanoseconds() - started) / 60e9)) min, seed \(options.seed)
      chaos events: \(events.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
      frames verified: \(total.frames) by \(finished.count) verifier runs (lease \(total.byMode["lease", default: 0]), latest \(total.byMode["latest", default: 0]), doorbell \(total.byMode["doorbell", default: 0]), busy-poll \(total.byMode["busypoll", default: 0]))
      corrupt: \(total.corrupt)
      unreported gaps: \(total.unreported)
      out of order: \(total.outOfOrder)
      frames overwritten before read, detected (latest mode, or revoked leases): \(total.torn)
      drops reported to clients: \(total.dropped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
      device drops: \(deviceDrops) (\(stopDrops) while captured was SIGSTOPped, \(deviceDrops - min(stopDrops, deviceDrops)) otherwise); lease-limit drops: \((last?.streams.first?.clientDrops ?? 0) - first.streams[0].clientDrops)
      verifier errors: \(total.errors.isEmpty ? "none" : total.errors.sorted { $0.key < $1.key }.map { "\($0.value)x \($0.key)" }.joined(separator: "; "))
      captured at start: \(startVitals)
      captured at end:   \(endVitals)
      logs: \(dir)
    """)
let flat = endVitals.fds == startVitals.fds && endVitals.threads == startVitals.threads
let ok = total.corrupt == 0 && total.unreported == 0 && total.outOfOrder == 0 && flat && total.frames > 0
print(ok ? "RESULT PASS" : "RESULT FAIL\(flat ? "" : " (descriptor or thread count not flat)")")
if ok { try? FileManager.default.removeItem(atPath: dir) }
exit(ok ? 0 : 1)

struct VerifyTotals {
    var frames: UInt64 = 0, corrupt: UInt64 = 0, unreported: UInt64 = 0, outOfOrder: UInt64 = 0, torn: UInt64 = 0
    var byMode: [String: UInt64] = [:]
    var dropped: [String: UInt64] = [:]
    var errors: [String: Int] = [:]
    mutating func add(_ r: VerifyReport) {
        frames += r.frames
        corrupt += r.corrupt
        unreported += r.unreportedGaps
        outOfOrder += r.outOfOrder
        torn += r.torn
        byMode[r.mode, default: 0] += r.frames
        for (k, v) in r.dropped { dropped[k, default: 0] += v }
        if let e = r.error { errors[e, default: 0] += 1 }
    }
}
