#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import CaptureTestSupport
import Foundation
import Synchronization

let stopVerifying = Atomic<Bool>(false)

/// capture-testclient verify SOCKET STREAM lease|latest|doorbell|busypoll REPORT [SECONDS]
/// Reads frames until SIGTERM (or SECONDS), checking every byte, the order, and in lease mode
/// that every gap was reported as dropped. Exit status 1 when anything was corrupt.
func verify(socketPath: String, stream: String, mode: String, reportPath: String, seconds: Double?) -> Int32 {
    signal(SIGTERM) { _ in stopVerifying.store(true, ordering: .relaxed) }
    signal(SIGINT) { _ in stopVerifying.store(true, ordering: .relaxed) }
    var report = VerifyReport(mode: mode)
    func write() {
        guard let json = try? JSONEncoder().encode(report) else { return }
        let tmp = reportPath + ".tmp"
        FileManager.default.createFile(atPath: tmp, contents: json + Data("\n".utf8))
        rename(tmp, reportPath)
    }
    let clientMode: ClientMode = mode == "lease" ? .lease : .latest
    let client: CaptureClient
    do {
        client = try CaptureClient.connect(stream: stream, mode: clientMode, socketPath: socketPath, doorbell: mode == "doorbell" || mode == "busypoll")
    } catch {
        report.error = "\(error)"
        write()
        return 2
    }
    let end = seconds.map { monotonicNanoseconds() + UInt64($0 * 1e9) }
    var last: UInt64?
    var reportedUpTo: UInt64 = 0
    var revoked = Set<UInt64>()
    // Lease frames found overwritten before their LeaseRevoked was read: the daemon revokes
    // (lease_timeout), then the device may refill the slot, and the message follows the frame
    // in the socket. Judged once the revocation arrives (torn) or the session ends: ended by
    // the daemon (evicted, gone: every lease ended with it) is torn, otherwise a problem.
    var overwrittenUnexplained = Set<UInt64>()
    var lastWrite = monotonicNanoseconds()
    func problem(_ text: String) {
        report.corrupt += 1
        say("verify \(mode): \(text)")
    }
    func take(_ f: Frame) {
        switch f.check() {
        case .intact: break
        case .overwritten:
            if clientMode == .latest { report.torn += 1; return }
            if revoked.contains(f.sequence) { report.torn += 1 } else { overwrittenUnexplained.insert(f.sequence) }
            last = max(last ?? 0, f.sequence)   // announced: not a gap
            return
        case .corrupt(let why):
            problem("frame \(f.sequence) is corrupt: \(why)")
        }
        if let last {
            if f.sequence <= last {
                report.outOfOrder += 1
                problem("frame \(f.sequence) after frame \(last)")
            } else if clientMode == .lease && f.sequence > last + 1 && reportedUpTo < f.sequence - 1 {
                report.unreportedGaps += 1
                problem("frames \(last + 1)…\(f.sequence - 1) lost without a Dropped report")
            }
        }
        last = max(last ?? 0, f.sequence)
        report.frames += 1
    }
    while !stopVerifying.load(ordering: .relaxed) {
        if let end, monotonicNanoseconds() >= end { break }
        do {
            if mode == "busypoll" {
                take(try client.nextFrameBusyPolling(timeout: .milliseconds(200)))
            } else {
                switch try client.nextEvent(timeout: .milliseconds(200)) {
                case .frame(let f):
                    take(f)
                    try client.release(f)
                case .dropped(let d):
                    report.dropped["\(d.reason)", default: 0] += d.count
                    reportedUpTo = max(reportedUpTo, d.firstSequence + d.count - 1)
                case .leaseRevoked(let seq, _):
                    revoked.insert(seq)
                    if overwrittenUnexplained.remove(seq) != nil { report.torn += 1 }
                case .notice, .reconnected:
                    break
                }
            }
        } catch CaptureClientError.timedOut {
        } catch {
            report.error = "\(error)"
            // The daemon ended the session (evicted us, or went away): our leases ended with it.
            report.torn += UInt64(overwrittenUnexplained.count)
            overwrittenUnexplained.removeAll()
            break
        }
        if monotonicNanoseconds() - lastWrite > 500_000_000 {
            if mode == "busypoll" { report.dropped["device overrun", default: 0] = client.statistics.dropped }
            write()
            lastWrite = monotonicNanoseconds()
        }
    }
    if mode == "busypoll" { report.dropped["device overrun", default: 0] = client.statistics.dropped }
    for sequence in overwrittenUnexplained.sorted() { problem("frame \(sequence) was overwritten while leased, and its lease was never revoked") }
    client.close()
    write()
    return report.corrupt == 0 ? 0 : 1
}

/// capture-testclient hog SECONDS: one thread that only burns CPU.
func hog(seconds: Double) -> Int32 {
    let end = monotonicNanoseconds() + UInt64(seconds * 1e9)
    var x: UInt64 = 1
    while monotonicNanoseconds() < end {
        for _ in 0..<100_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
    }
    return x == 42 ? 1 : 0
}

/// capture-testclient garbage SOCKET SEED COUNT: COUNT connections, each sending one kind of
/// thing a client must not send; every one must end with the daemon's Error or a close.
func garbage(socketPath: String, seed: UInt64, count: Int) -> Int32 {
    var rng = SplitMix(seed: seed)
    var answered = 0, hung = 0
    for _ in 0..<count {
        guard let s = rawConnect(socketPath) else { continue }
        let hello = Message.hello(stream: "sim0", mode: .lease, maxLeases: 0).encode()
        var packet: [UInt8]
        var fds: [FileDescriptor] = []
        switch rng.next() % 9 {
        case 0: packet = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 1: packet = hello; packet[2] = UInt8(truncatingIfNeeded: rng.next() | 2) // wrong version
        case 2: packet = hello; packet[Int(rng.next() % UInt64(packet.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
        case 3: packet = Message.release([FrameEntry(slot: UInt32(truncatingIfNeeded: rng.next()), sequence: rng.next())]).encode()
        case 4: packet = Message.hello(stream: String(repeating: "\u{1b}", count: Int(rng.next() % 64) + 1), mode: .latest, maxLeases: 0).encode()
        case 5: packet = [UInt8](repeating: 0xAB, count: 65_537)
        case 6: packet = hello; if let p = try? UnixPipe.make() { fds = [p.read, p.write] }
        case 7: packet = Message.goodbye(reason: .evicted, message: "from a client").encode()
        default: packet = Message.frames([FrameEntry(slot: 0, sequence: 1)]).encode()
        }
        _ = try? UnixSocket.send(s, packet, passing: fds, blocking: false)
        fds.removeAll() // ours close; the daemon's copies are its to close
        // Release/unknown-stream/goodbye: an Error (or Welcome) then a close; give it 2 s.
        var p = pollfd(fd: s.raw, events: Int16(POLLIN), revents: 0)
        var ended = false
        let deadline = monotonicNanoseconds() + 2_000_000_000
        while monotonicNanoseconds() < deadline {
            guard poll(&p, 1, 100) == 1 else { continue }
            guard case .message(let m, _)? = try? MessageSocket.receive(s, blocking: false) else { ended = true; break }
            if case .welcome = m { _ = try? MessageSocket.send(s, .goodbye(reason: .normal, message: "")) }
        }
        if ended { answered += 1 } else { hung += 1 }
    }
    say("garbage: \(answered) of \(count) connections ended by the daemon, \(hung) left open")
    return hung == 0 ? 0 : 1
}
