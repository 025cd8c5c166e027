#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureSystem
import CCaptureShim

// What a hostile local user can do with nothing but the socket. Each prints what happened.

/// A raw connection to the daemon; the caller decides what (not) to send.
func rawConnect(_ socketPath: String) -> FileDescriptor? {
    guard let s = try? UnixSocket.seqpacket() else { return nil }
    guard (try? UnixSocket.connect(s, path: socketPath)) != nil else { return nil }
    return s
}

/// Keeps `inFlight` StatusRequests outstanding on one connection for `seconds`, reading the
/// replies (or, with `read` false, never reading them). No Hello is needed.
func statusFlood(socketPath: String, inFlight: Int, seconds: Double, read: Bool) -> Int32 {
    guard let s = rawConnect(socketPath) else { say("cannot connect"); return 1 }
    let request = Message.statusRequest.encode()
    let end = monotonicNanoseconds() + UInt64(seconds * 1e9)
    var sent = 0, replies = 0
    var outstanding = 0
    while monotonicNanoseconds() < end {
        while outstanding < inFlight {
            guard let r = try? UnixSocket.send(s, request, blocking: false), r == .sent else { break }
            sent += 1
            outstanding += 1
        }
        if read {
            guard case .message? = try? MessageSocket.receive(s, blocking: true) else { break }
            replies += 1
            outstanding -= 1
        } else {
            usleep(10_000)
            if outstanding >= inFlight { outstanding = 0 } // keep the socket as full as it will go
        }
    }
    say("status-flood: sent \(sent), replies read \(replies)")
    return 0
}

/// Opens `count` connections that never say anything and holds them for `seconds`; reports
/// how many the daemon refused at once (and why) and how many it closed later (and why).
func idleConnections(socketPath: String, count: Int, seconds: Double) -> Int32 {
    var sockets: [FileDescriptor] = []
    for _ in 0..<count {
        guard let s = rawConnect(socketPath) else { break }
        sockets.append(s)
    }
    /// The Error the daemon sent before closing, if it closed the connection.
    func ending(_ s: FileDescriptor) -> String? {
        var p = pollfd(fd: s.raw, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return nil }
        if case .message(.error(let code, _), _)? = try? MessageSocket.receive(s, blocking: false) { return code.name }
        return "closed"
    }
    usleep(300_000)
    var refused: [String: Int] = [:]
    sockets.removeAll { s in
        guard let why = ending(s) else { return false }
        refused[why, default: 0] += 1
        return true
    }
    say("idle: \(sockets.count) held, refused \(refused.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
    usleep(UInt32(seconds * 1e6))
    var closed: [String: Int] = [:]
    for s in sockets { if let why = ending(s) { closed[why, default: 0] += 1 } }
    say("idle: closed later \(closed.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
    return 0
}

/// Hello with a stream name that tries to forge a log line and colour the terminal.
func logInjection(socketPath: String) -> Int32 {
    guard let s = rawConnect(socketPath) else { say("cannot connect"); return 1 }
    let name = "x\ncritical: residency guard: page lost (forged)\u{1b}[31m"
    _ = try? MessageSocket.send(s, .hello(stream: name, mode: .lease, maxLeases: 0))
    let answer = try? MessageSocket.receive(s, blocking: true)
    say("inject: \(String(describing: answer))")
    return 0
}

/// Takes the ring (and a doorbell) and tries to disturb everybody else through them: file
/// status flags and offset of the ring's descriptor, and an eventfd counter at its maximum
/// with blocking writes.
func tamper(socketPath: String, stream: String, seconds: Double) -> Int32 {
    guard let s = rawConnect(socketPath) else { say("cannot connect"); return 1 }
    _ = try? MessageSocket.send(s, .hello(stream: stream, mode: .latest, maxLeases: 0, flags: .doorbell))
    guard case .message(.welcome, let fds)? = try? MessageSocket.receive(s, blocking: true), !fds.isEmpty else {
        say("tamper: no Welcome")
        return 1
    }
    let ring = fds[0].raw
    let before = fcntl(ring, F_GETFL)
    let flagsChanged = fcntl(ring, F_SETFL, O_APPEND | O_NONBLOCK) == 0
    let seeked = lseek(ring, 12_345, SEEK_SET) == 12_345
    var bell = "none"
    if fds.count > 1 {
        // An eventfd at its maximum with blocking writes would make a userspace writer wait.
        let f = fcntl(fds[1].raw, F_GETFL)
        _ = fcntl(fds[1].raw, F_SETFL, f & ~O_NONBLOCK)
        var most: UInt64 = 0xffff_ffff_ffff_fffe
        let n = withUnsafeBytes(of: &most) { write(fds[1].raw, $0.baseAddress, 8) }
        bell = n == 8 ? "at its maximum, blocking" : "not writable (\(String(cString: strerror(errno))))"
    }
    say("tamper: ring flags 0x\(String(before, radix: 16)) -> O_APPEND|O_NONBLOCK \(flagsChanged), lseek \(seeked); doorbell \(bell)")
    usleep(UInt32(seconds * 1e6))
    return 0
}
