#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import Foundation

/// capture-testclient conform SCENARIO SOCKET STREAM [N]: the conformance scenarios
/// (Tests/CaptureServiceTests/ConformanceTests.swift) for the Swift client, printing what
/// libcapture's tests/conform.c and python/tests/conform.py print.
func conform(_ args: [String]) -> Int32 {
    guard args.count >= 3 else { return 2 }
    let (scenario, socket, stream) = (args[0], args[1], args[2])
    let n = args.count > 3 ? Int(args[3]) ?? 100 : 100
    // Unbuffered: the harness reads each line as it is written.
    func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    func client(_ mode: ClientMode, reconnect: Duration? = nil) -> CaptureClient? {
        do {
            return try CaptureClient.connect(stream: stream, mode: mode, socketPath: socket, reconnect: reconnect)
        } catch CaptureClientError.refused(let code, let text) {
            say("result error=-1002 refused=1 code=\(code.name) message=\(text)")
            return nil
        } catch {
            say("result error=-1 message=\(error)")
            return nil
        }
    }
    func run(_ c: CaptureClient, lease: Bool, slow: UInt32 = 0, stall: UInt32 = 0) -> Int32 {
        var frames = 0, corrupt = 0, outOfOrder = 0, gaps = 0, overwritten = 0, reconnected = 0, error = 0
        var dropped: UInt64 = 0, last: UInt64 = 0, reportedTo: UInt64 = 0
        while frames < n {
            let event: CaptureEvent
            do { event = try c.nextEvent(timeout: .seconds(10)) } catch let thrown {
                if case CaptureClientError.daemonGone = thrown { error = -1001 } else { error = -1 }
                FileHandle.standardError.write(Data("\(thrown)\n".utf8))
                break
            }
            switch event {
            case .dropped(let d):
                dropped += d.count
                reportedTo = max(reportedTo, d.firstSequence + d.count - 1)
            case .reconnected(let head):
                reconnected += 1
                last = head
                reportedTo = head
            case .frame(let f):
                if slow > 0 { usleep(slow) }
                switch f.check() {
                case .intact: break
                case .overwritten where !lease: overwritten += 1
                case let other:
                    corrupt += 1
                    FileHandle.standardError.write(Data("\(other)\n".utf8))
                }
                if last > 0 && f.sequence <= last { outOfOrder += 1 } else if lease && last > 0 && f.sequence > last + 1 && reportedTo < f.sequence - 1 { gaps += 1 }
                last = max(last, f.sequence)
                frames += 1
                try? c.release(f)
                if stall > 0 && frames == 1 { usleep(stall) } // off the CPU for longer than the ring lasts
            case .leaseRevoked, .notice: break
            }
        }
        say("result frames=\(frames) corrupt=\(corrupt) out_of_order=\(outOfOrder) gaps=\(gaps) dropped=\(dropped) overwritten=\(overwritten) reconnected=\(reconnected) error=\(error)")
        return error == 0 ? 0 : 1
    }
    func waitFor(_ command: String) {
        say("ready")
        while let line = readLine(), !line.hasPrefix(command) {}
    }
    switch scenario {
    case "frames": return client(.lease).map { run($0, lease: true) } ?? 0
    case "latest": return client(.latest).map { run($0, lease: false) } ?? 0
    case "torn": return client(.latest).map { run($0, lease: false, slow: 2000) } ?? 0
    case "reconnect": return client(.lease, reconnect: .seconds(20)).map { run($0, lease: true) } ?? 0
    case "stall": return client(.lease).map { run($0, lease: true, stall: 300_000) } ?? 0
    case "refused":
        if client(.lease) != nil { say("result refused=0"); return 1 }
        return 0
    case "hold", "gone":
        guard let c = client(.lease) else { return 1 }
        var held: [Frame] = []
        while held.count < min(n, 64), let f = try? c.nextFrame(timeout: .seconds(10)) { held.append(f) }
        say("holding \(held.count)")
        if scenario == "gone" {
            waitFor("check") // the harness stopped the daemon meanwhile
            let intact = held.filter { $0.check() == .intact }.count
            say("result intact=\(intact) of=\(held.count)")
            return 0
        }
        say("ready")
        while let line = readLine() {
            if line.hasPrefix("release") { try? c.release(held); held = []; say("released") }
            if line.hasPrefix("close") { c.close(); say("closed"); return 0 }
        }
        return 0
    default:
        return 2
    }
}
