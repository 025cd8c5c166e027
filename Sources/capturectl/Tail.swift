#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureClient
import CaptureProtocol
import Synchronization

/// Set by SIGINT so `tail` can print its summary and exit.
let interrupted = Atomic<Bool>(false)

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read frames from a stream, optionally verifying each, and end with `N frames, C corrupt, D dropped`.",
        discussion: """
            Exit status 0 only when no frame was corrupt. In lease mode a gap in sequence numbers that the daemon             did not report as dropped counts as corrupt: nothing may be lost silently. --verify checks every byte:             the CRC-32 the device wrote, and the test payloads (pattern, header, image) byte for byte.

            Examples:
              capturectl tail sim0 --frames 10000 --verify
              capturectl tail sim0 --mode latest
              capturectl --socket /tmp/s.sock tail cam0 --reconnect 30
            """)
    @Argument(help: "Stream name, e.g. sim0.")
    var stream: String
    @Option(name: .long, help: "Stop after this many frames (default: until Ctrl-C).")
    var frames: Int?
    @Option(name: .long, help: "lease or latest.")
    var mode: String = "lease"
    @Flag(name: .long, help: "Check every byte of every frame (CRC-32, pattern) and the sequence order.")
    var verify = false
    @Option(name: .long, help: "Most frames held at once in lease mode (0: the stream's limit).")
    var maxLeases: Int = 0
    @Option(name: .long, help: "Give up when no frame arrives for this many seconds.")
    var timeout: Int = 10
    @Option(name: .long, help: "Reconnect when captured restarts, trying for up to this many seconds (0: do not).")
    var reconnect: Int = 0
    @OptionGroup var options: SocketOption

    func validate() throws {
        guard ClientMode(name: mode) != nil else { throw ValidationError("--mode must be lease or latest") }
        if let frames, frames <= 0 { throw ValidationError("--frames must be positive") }
    }

    func run() throws {
        let clientMode = ClientMode(name: mode)!
        signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
        let client: CaptureClient
        do {
            client = try CaptureClient.connect(stream: stream, mode: clientMode, maxLeases: maxLeases, socketPath: options.socket,
                                               reconnect: reconnect > 0 ? .seconds(reconnect) : nil)
        } catch { throw fail(error) }
        var tally = Tally(mode: clientMode)
        var failure: Error?
        var idle = 0
        // Leases go back in batches: one Release message when the client has caught up (nothing
        // more is waiting) or holds half its limit, not one per frame, so tail keeps up with
        // fast streams.
        var held: [Frame] = []
        let batch = max(1, Int(client.welcome.maxLeases) / 2)
        while frames.map({ tally.frames < $0 }) ?? true, !interrupted.load(ordering: .relaxed) {
            let event: CaptureEvent
            do {
                if let waiting = try? client.nextEvent(timeout: .zero) {
                    event = waiting
                } else {
                    if !held.isEmpty { try? client.release(held); held.removeAll(keepingCapacity: true) }
                    event = try client.nextEvent(timeout: .milliseconds(250))
                }
            } catch CaptureClientError.timedOut {
                idle += 250
                if idle >= timeout * 1000 { failure = CaptureClientError.timedOut; break }
                continue
            } catch {
                failure = error
                break
            }
            idle = 0
            switch event {
            case .frame(let frame):
                tally.frame(frame, verify: verify)
                if clientMode == .lease {
                    held.append(frame)
                    if held.count >= batch { try? client.release(held); held.removeAll(keepingCapacity: true) }
                }
            case .dropped(let d):
                tally.dropped(d)
            case .leaseRevoked(let seq, _):
                tally.revoked.insert(seq)
            case .notice(let code, let text):
                printError("capturectl: notice from captured: \(code): \(text)")
            case .reconnected(let head):
                printError("capturectl: reconnected to captured (head frame \(head))")
            }
        }
        if clientMode == .latest {
            let overwritten = client.statistics.overwritten + tally.torn
            print("latest mode: \(overwritten) frame(s) overwritten before they were read (detected, counted as dropped), \(tally.superseded) superseded by newer frames")
            tally.droppedCount += overwritten
        }
        if !held.isEmpty { try? client.release(held) }
        client.close()
        if let failure { printError("capturectl: \(failure)") }
        // The causes follow the totals so that a reader (and vm/scenarios) can tell a slow client
        // (recycled, lease limit) from a slow daemon (backlog) or a restart (reconnect).
        let causes = tally.causes.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key): \($0.value)" }
        print("\(tally.frames) frames, \(tally.corrupt) corrupt, \(tally.droppedCount) dropped"
              + (causes.isEmpty ? "" : " (\(causes.joined(separator: ", ")))"))
        if tally.corrupt > 0 || failure != nil { throw ExitCode.failure }
    }
}

/// Counts what `tail` saw and checks order and completeness.
struct Tally {
    let mode: ClientMode
    var frames = 0
    var corrupt = 0
    var droppedCount: UInt64 = 0
    /// Frames the daemon or the client library reported dropped, by cause.
    var causes: [DropReason: UInt64] = [:]
    var torn: UInt64 = 0
    var superseded: UInt64 = 0
    var revoked = Set<UInt64>()
    /// Sequences the daemon reported as dropped, as ranges, not yet passed.
    var reported: [(first: UInt64, count: UInt64)] = []
    var last: UInt64?

    init(mode: ClientMode) { self.mode = mode }

    mutating func dropped(_ d: Dropped) {
        droppedCount += d.count
        causes[d.reason, default: 0] += d.count
        reported.append((d.firstSequence, d.count))
    }

    mutating func frame(_ frame: Frame, verify: Bool) {
        if verify {
            switch frame.check() {
            case .intact: break
            case .overwritten:
                if mode == .latest || revoked.contains(frame.sequence) {
                    torn += 1
                    return
                }
                corrupt += 1
                printError("capturectl: frame \(frame.sequence) was overwritten while leased")
            case .corrupt(let why):
                corrupt += 1
                printError("capturectl: frame \(frame.sequence) is corrupt: \(why)")
            }
            if let last {
                if frame.sequence <= last {
                    corrupt += 1
                    printError("capturectl: frame \(frame.sequence) arrived after frame \(last)")
                } else if frame.sequence > last + 1 {
                    let missing = unreported(from: last + 1, to: frame.sequence)
                    if mode == .lease && missing > 0 {
                        corrupt += 1
                        printError("capturectl: \(missing) frame(s) between \(last) and \(frame.sequence) were lost without a Dropped report")
                    } else if mode == .latest {
                        superseded += missing
                    }
                }
            }
        }
        last = max(last ?? 0, frame.sequence)
        frames += 1
    }

    /// How many sequences in [from, to) no Dropped report covered.
    mutating func unreported(from: UInt64, to: UInt64) -> UInt64 {
        var covered: UInt64 = 0
        for r in reported {
            let lo = max(r.first, from), hi = min(r.first + r.count, to)
            if hi > lo { covered += hi - lo }
        }
        reported.removeAll { $0.first + $0.count <= to }
        return (to - from) - covered
    }
}
