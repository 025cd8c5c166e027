#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureClient
import CaptureProtocol
import CaptureSystem
import Foundation
import Synchronization

/// Set by SIGINT/SIGTERM (quit) and SIGWINCH (redraw at the new size).
let watchQuit = Atomic<Bool>(false)
let watchResized = Atomic<Bool>(false)

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of every stream and client, redrawn in place; q or Ctrl-C quits.",
        discussion: """
            Per stream: frames/s, GB/s, drops by cause (device overruns, clients at their lease limit), slots \
            leased, the residency guard. Per client: frames/s delivered, leases held, lag, drops, revocations, and \
            whether the device wakes it (doorbell) or the daemon's messages do. Rates are measured between two \
            refreshes.

            Examples:
              capturectl watch
              capturectl watch --interval 0.5
              capturectl watch --once          # one screen, for scripts and logs
            """)
    @Option(name: .long, help: "Seconds between refreshes.") var interval: Double = 1
    @Flag(name: .long, help: "Print one screen (rates over half a second) and exit.") var once = false
    @OptionGroup var options: SocketOption

    func validate() throws {
        guard interval >= 0.1, interval <= 60 else { throw ValidationError("--interval must be 0.1 to 60 seconds") }
    }

    func run() throws {
        if once {
            let first = Sample(socket: options.socket)
            usleep(500_000)
            let second = Sample(socket: options.socket)
            print(WatchScreen.render(second, previous: first, socket: options.socket, width: Terminal.columns ?? 120).joined(separator: "\n"))
            if second.report == nil { throw ExitCode.failure }
            return
        }
        // Handlers first: a Ctrl-C from here on ends the loop and the terminal is put back.
        signal(SIGINT) { _ in watchQuit.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in watchQuit.store(true, ordering: .relaxed) }
        signal(SIGWINCH) { _ in watchResized.store(true, ordering: .relaxed) }
        let terminal = Terminal()
        defer { terminal.restore() }
        var previous: Sample?
        var current = Sample(socket: options.socket)
        var nextSample = monotonicNanoseconds() + UInt64(interval * 1e9)
        while !watchQuit.load(ordering: .relaxed) {
            let size = (Terminal.columns ?? 80, Terminal.rows ?? 24)
            let lines = WatchScreen.render(current, previous: previous, socket: options.socket, width: size.0)
            terminal.draw(lines, width: size.0, height: size.1)
            // Wait for the next refresh, a key, or a resize.
            while !watchQuit.load(ordering: .relaxed), !watchResized.exchange(false, ordering: .relaxed) {
                let now = monotonicNanoseconds()
                if now >= nextSample { break }
                if terminal.keyPressed(within: Int32(min(100, (nextSample - now) / 1_000_000 + 1))) == UInt8(ascii: "q") {
                    watchQuit.store(true, ordering: .relaxed)
                }
            }
            if monotonicNanoseconds() >= nextSample {
                previous = current
                current = Sample(socket: options.socket)
                nextSample = monotonicNanoseconds() + UInt64(interval * 1e9)
            }
        }
    }
}

/// One status document and when it was taken.
struct Sample {
    let report: StatusReport?
    let error: String?
    let at: UInt64

    init(socket: String) {
        at = monotonicNanoseconds()
        do {
            report = try CaptureClient.status(socketPath: socket)
            error = nil
        } catch {
            report = nil
            self.error = "\(error)"
        }
    }
}

/// The screen, as lines no wider than the terminal.
enum WatchScreen {
    static func render(_ s: Sample, previous: Sample?, socket: String, width: Int) -> [String] {
        let clock = DateFormatter.localizedString(from: Date(), dateStyle: .none, timeStyle: .medium)
        guard let r = s.report else {
            return ["capture watch — \(clock)", "", "captured is not answering at \(socket):", "  \(s.error ?? "")",
                    "", "(retrying; is it running? systemctl status capture)"]
        }
        let seconds = previous.map { Double(s.at - $0.at) / 1e9 } ?? 0
        func rate(_ now: UInt64, _ before: UInt64?) -> String {
            guard let before, seconds > 0, now >= before else { return "-" }
            return String(format: "%.1f", Double(now - before) / seconds)
        }
        var lines = [
            "captured \(r.version), pid \(r.daemonPID), up \(duration(r.uptimeSeconds)), \(r.clients) connection(s)" + pad(clock, to: width, after: 60),
            "",
            columns([("STREAM", 10), ("DEVICE", 16), ("FRAMES/S", 10), ("GB/S", 7), ("DEV DROPS", 10), ("LIMIT DROPS", 12), ("LEASED", 9), ("GUARD", 10), ("CLIENTS", 7)]),
        ]
        for stream in r.streams {
            let before = previous?.report?.streams.first { $0.name == stream.name }
            let fps = before.map { _ in rate(stream.frames, before?.frames) } ?? String(format: "%.1f", stream.measuredRate)
            let gbps = (Double(fps) ?? stream.measuredRate) * Double(stream.frameBytes) / 1e9
            let guardState = stream.residencyGuard.faults > 0 ? "\(stream.residencyGuard.faults) FAULTS" : stream.residencyGuard.state
            lines.append(columns([(stream.name, 10), (stream.device, 16), (fps, 10), (String(format: "%.2f", gbps), 7),
                                  ("\(stream.dropped)", 10), ("\(stream.clientDrops)", 12), ("\(stream.slotsLeased)/\(stream.slots)", 9),
                                  (guardState, 10), ("\(stream.clients.count)", 7)]))
            if !stream.clients.isEmpty {
                lines.append("  " + columns([("CLIENT", 8), ("PID", 8), ("UID", 6), ("MODE", 7), ("FRAMES/S", 10), ("LEASES", 8), ("LAG", 6),
                                             ("DROPPED", 9), ("REVOKED", 8), ("WOKEN BY", 9)]))
            }
            for c in stream.clients {
                let was = before?.clients.first { $0.id == c.id }
                let delivered = c.doorbell ? "(device)" : rate(c.delivered, was?.delivered)
                lines.append("  " + columns([("\(c.id)", 8), ("\(c.pid)", 8), ("\(c.uid)", 6), (c.mode, 7), (delivered, 10),
                                             (c.mode == "lease" ? "\(c.leases)/\(c.maxLeases)" : "-", 8), ("\(c.lag)", 6),
                                             ("\(c.dropped)", 9), ("\(c.revoked)", 8), (c.doorbell ? "doorbell" : "messages", 9)]))
            }
            lines.append("")
        }
        if !r.waitingForDevices.isEmpty { lines.append("waiting for devices: " + r.waitingForDevices.joined(separator: ", ")) }
        lines.append("q or Ctrl-C quits")
        return lines.map { String($0.prefix(width)) }
    }

    static func columns(_ cells: [(String, Int)]) -> String {
        cells.map { text, w in text.count >= w ? String(text.prefix(w - 1)) + " " : text + String(repeating: " ", count: w - text.count) }.joined()
    }

    static func pad(_ text: String, to width: Int, after used: Int) -> String {
        String(repeating: " ", count: max(2, min(width, 100) - used - text.count)) + text
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s)
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m"
    }
}

/// The terminal while `watch` runs: the alternate screen, no cursor, keys without Enter.
/// `restore()` puts everything back (also on Ctrl-C: the loop ends and the defer runs).
final class Terminal {
    private var saved = termios()
    private let interactive = isatty(STDIN_FILENO) == 1
    private let screen = isatty(STDOUT_FILENO) == 1

    init() {
        if interactive, tcgetattr(STDIN_FILENO, &saved) == 0 {
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 0
                cc[Int(VTIME)] = 0
            }
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        if screen { write("\u{1B}[?1049h\u{1B}[?25l") }
    }

    func restore() {
        if interactive { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
        if screen { write("\u{1B}[?25h\u{1B}[?1049l") }
    }

    /// Redraws from the top: each line cleared to its end, the rest of the screen cleared.
    func draw(_ lines: [String], width: Int, height: Int) {
        var out = screen ? "\u{1B}[H" : ""
        for line in lines.prefix(max(1, height - 1)) { out += String(line.prefix(width)) + (screen ? "\u{1B}[K\n" : "\n") }
        if screen { out += "\u{1B}[J" }
        write(out)
    }

    /// A key typed within `ms`, if any.
    func keyPressed(within ms: Int32) -> UInt8? {
        var p = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard interactive ? poll(&p, 1, ms) == 1 : { usleep(UInt32(ms) * 1000); return false }() else { return nil }
        var byte: UInt8 = 0
        return Glibc.read(STDIN_FILENO, &byte, 1) == 1 ? byte : nil
    }

    private func write(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            var done = 0
            while done < buf.count {
                let n = Glibc.write(STDOUT_FILENO, buf.baseAddress! + done, buf.count - done)
                if n <= 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }

    /// TIOCGWINSZ of standard output (or input), else $COLUMNS / $LINES.
    static var columns: Int? { size?.0 ?? ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } }
    static var rows: Int? { size?.1 ?? ProcessInfo.processInfo.environment["LINES"].flatMap { Int($0) } }
    private static var size: (Int, Int)? {
        var w = winsize()
        for fd in [STDOUT_FILENO, STDIN_FILENO] where ioctl(fd, UInt(TIOCGWINSZ), &w) == 0 && w.ws_col > 0 {
            return (Int(w.ws_col), Int(w.ws_row))
        }
        return nil
    }
}
