#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureRing
import CaptureSystem
import CCaptureShim
import DequeModule
import Foundation
import Synchronization

public enum CaptureClientError: Error, CustomStringConvertible, Equatable {
    /// The daemon closed the connection (stopped, restarted or crashed). Mappings stay valid.
    case daemonGone(String)
    /// The daemon answered with an Error and closed the connection.
    case refused(ErrorCode, String)
    /// The stream's device went away (unplugged, driver unbound); the daemon goes on.
    case streamDetached(String)
    /// The daemon sent something this library does not understand.
    case protocolViolation(String)
    case timedOut

    public var description: String {
        switch self {
        case .daemonGone(let why): return "captured went away: \(why)"
        case let .refused(code, text): return "captured refused: \(code): \(text)"
        case .streamDetached(let why): return "stream detached: \(why)"
        case .protocolViolation(let why): return "protocol violation from captured: \(why)"
        case .timedOut: return "timed out waiting for captured"
        }
    }
}

/// A connection to captured for one stream.
///
/// `connect` says Hello, receives the ring's memfd and maps it read-only. Frames then arrive as
/// events (`nextEvent`, `nextFrame`, or the `frames`/`events` async sequences). In lease mode
/// every frame must be `release`d. With `reconnect`, a daemon that goes away (restart, crash)
/// is reconnected to with backoff; frames already obtained stay readable throughout, and the
/// frames published while disconnected are reported as dropped. `close()` ends the session;
/// the daemon releases whatever the client still held.
public final class CaptureClient: Sendable {
    public let stream: String
    public let mode: ClientMode
    private let maxLeases: Int
    private let socketPath: String
    /// How long to keep trying to reconnect; nil: do not reconnect.
    private let reconnectFor: Duration?
    private let connection: Mutex<Connection>
    private let closed = Atomic<Bool>(false)
    private let inbox = Mutex<Deque<CaptureEvent>>([])
    private let counters = Mutex<Statistics>(Statistics())
    /// The newest sequence taken from the ring head (doorbell or busy polling).
    private let newestTaken = Mutex<UInt64>(0)
    private let doorbell: Bool

    /// One session with the daemon: its socket, Welcome and mapping of the ring.
    final class Connection: Sendable {
        let socket: FileDescriptor
        let welcome: Welcome
        let ring: RingReader
        let generation: Int
        /// Latest mode: what the device rings for every frame, an eventfd or a pipe (nil: Frames messages).
        let doorbell: FileDescriptor?
        init(socket: FileDescriptor, welcome: Welcome, ring: RingReader, generation: Int, doorbell: FileDescriptor?) {
            self.socket = socket
            self.welcome = welcome
            self.ring = ring
            self.generation = generation
            self.doorbell = doorbell
        }
    }

    public struct Statistics: Sendable, Equatable {
        public var frames: UInt64 = 0
        public var dropped: UInt64 = 0
        public var revoked: UInt64 = 0
        /// Latest mode: frames announced but already overwritten when we looked.
        public var overwritten: UInt64 = 0
        public var reconnects: UInt64 = 0
        /// Newest sequence announced or reported dropped (for reconnect gap accounting).
        var lastSequence: UInt64 = 0
    }

    public var statistics: Statistics { counters.withLock { $0 } }
    /// The current session's Welcome.
    public var welcome: Welcome { connection.withLock { $0.welcome } }
    /// The current session's read-only mapping of the ring.
    public var ring: RingReader { connection.withLock { $0.ring } }

    /// Connects to `socketPath`, asks for `stream` in `mode`, and maps the ring read-only.
    /// `maxLeases` 0 takes the stream's limit. `reconnect`: keep the session alive across
    /// daemon restarts, retrying with backoff for up to that long each time.
    /// `doorbell` (latest mode): ask to be woken by the device itself through an eventfd
    /// rather than by the daemon's Frames message — one wake-up instead of two. Streams whose
    /// device cannot ring doorbells fall back to messages silently.
    public init(stream: String, mode: ClientMode = .lease, maxLeases: Int = 0,
                socketPath: String = SocketPath.default, reconnect: Duration? = nil, doorbell: Bool = true) throws {
        self.stream = stream
        self.mode = mode
        self.maxLeases = maxLeases
        self.socketPath = socketPath
        self.reconnectFor = reconnect
        let doorbell = doorbell && mode == .latest
        self.doorbell = doorbell
        connection = Mutex(try Self.open(stream: stream, mode: mode, maxLeases: maxLeases, socketPath: socketPath, generation: 0, doorbell: doorbell))
    }

    /// The same as `init`, for call sites that read better as a verb.
    public static func connect(stream: String, mode: ClientMode = .lease, maxLeases: Int = 0,
                               socketPath: String = SocketPath.default, reconnect: Duration? = nil, doorbell: Bool = true) throws -> CaptureClient {
        try CaptureClient(stream: stream, mode: mode, maxLeases: maxLeases, socketPath: socketPath, reconnect: reconnect, doorbell: doorbell)
    }

    private static func open(stream: String, mode: ClientMode, maxLeases: Int, socketPath: String, generation: Int, doorbell: Bool) throws -> Connection {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        do {
            _ = try MessageSocket.send(socket, .hello(stream: stream, mode: mode, maxLeases: UInt16(clamping: maxLeases),
                                                      flags: doorbell ? .doorbell : []))
        } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
            // Refused at accept (allow-list, max_clients): the reason is waiting to be read.
        }
        let (reply, fds) = try receiveReply(socket, expecting: "Welcome")
        guard case .welcome(let welcome) = reply else {
            closeAll(fds)
            throw CaptureClientError.protocolViolation("expected Welcome, got \(reply.type)")
        }
        let expected = welcome.doorbell ? 2 : 1
        guard fds.count == expected else {
            closeAll(fds)
            throw CaptureClientError.protocolViolation("Welcome carried \(fds.count) descriptors, expected \(expected) (the ring's memfd\(welcome.doorbell ? " and a doorbell" : ""))")
        }
        let memfd = FileDescriptor(owning: fds[0])
        defer { memfd.close() } // the mapping keeps the ring; the descriptor is not needed
        let bell = welcome.doorbell ? FileDescriptor(owning: fds[1]) : nil
        try bell?.setNonBlocking() // drained until it would block
        let ring = try RingReader(memfd: memfd)
        return Connection(socket: socket, welcome: welcome, ring: ring, generation: generation, doorbell: bell)
    }

    /// CLOCK_MONOTONIC nanoseconds `timeout` from now.
    private func deadline(after timeout: Duration) -> UInt64 {
        monotonicNanoseconds() + UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000)
    }

    /// The daemon's answer to a request: an Error becomes `.refused`, a closed socket
    /// `.daemonGone`, undecodable bytes `.protocolViolation`. The caller owns the descriptors.
    private static func receiveReply(_ socket: FileDescriptor, expecting: String) throws -> (Message, [Int32]) {
        switch try MessageSocket.receive(socket, blocking: true) {
        case .message(.error(let code, let text), let fds):
            closeAll(fds)
            throw CaptureClientError.refused(code, text)
        case .message(let message, let fds):
            return (message, fds)
        case .invalid(let error, let fds):
            closeAll(fds)
            throw CaptureClientError.protocolViolation(error.description)
        case .closed, .wouldBlock:
            throw CaptureClientError.daemonGone("connection closed before \(expecting)")
        }
    }

    deinit { connection.withLock { $0.socket.close(); $0.doorbell?.close() } }

    /// Asks the daemon for its status (no Hello needed).
    public static func status(socketPath: String = SocketPath.default) throws -> StatusReport {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        do {
            _ = try MessageSocket.send(socket, .statusRequest)
        } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
            // Refused at accept (too many clients, allow-list): the reason is waiting to be read.
        }
        let (reply, fds) = try receiveReply(socket, expecting: "StatusReply")
        closeAll(fds)
        guard case .statusReply(let json) = reply else {
            throw CaptureClientError.protocolViolation("expected StatusReply, got \(reply.type)")
        }
        return try JSONDecoder().decode(StatusReport.self, from: Data(json))
    }

    /// The next event; blocks up to `timeout` (nil: forever).
    public func nextEvent(timeout: Duration? = nil) throws -> CaptureEvent {
        let deadline = timeout.map(deadline(after:))
        while true {
            if let event = inbox.withLock({ $0.popFirst() }) { return event }
            var wait: Int64 = -1
            if let deadline {
                let now = monotonicNanoseconds()
                if now >= deadline { throw CaptureClientError.timedOut }
                wait = Int64(deadline - now)
            }
            let current = connection.withLock { $0 }
            var socketReady = true
            if let bell = current.doorbell {
                // The ring head first: the bell may have rung for it already. The bell is reset
                // before the head is read again, so a frame published meanwhile rings it anew.
                if let frame = takeNewest(from: current) { return .frame(frame) }
                let ready = capture_wait_readable2(current.socket.raw, bell.raw, wait)
                if ready & 2 != 0 { bell.drainReadable() }
                socketReady = ready & 1 != 0
            } else {
                socketReady = capture_wait_readable(current.socket.raw, wait) != 0
            }
            if !socketReady { continue }
            do {
                try receiveOne(current)
            } catch CaptureClientError.daemonGone(let why) {
                guard let reconnectFor, !closed.load(ordering: .acquiring) else { throw CaptureClientError.daemonGone(why) }
                try reconnect(after: current, within: reconnectFor, because: why)
            }
        }
    }

    /// The next frame; drops and revocations on the way are counted in `statistics`.
    public func nextFrame(timeout: Duration? = nil) throws -> Frame {
        while true {
            if case .frame(let frame) = try nextEvent(timeout: timeout) { return frame }
        }
    }

    /// The next frame and every other frame already waiting, oldest first: a fast client
    /// handles and `release`s them as one batch (one message, not one per frame).
    public func nextFrames(timeout: Duration? = nil) throws -> [Frame] {
        var frames = [try nextFrame(timeout: timeout)]
        let current = connection.withLock { $0 }
        // What the socket already holds, without blocking (bounded, so a flood cannot pin us here).
        for _ in 0..<8 where inbox.withLock({ $0.isEmpty }) {
            guard try receiveOne(current) else { break }
        }
        inbox.withLock { events in
            var rest = Deque<CaptureEvent>()
            while let event = events.popFirst() {
                if case .frame(let frame) = event { frames.append(frame) } else { rest.append(event) }
            }
            events = rest
        }
        return frames
    }

    /// Latest mode, busy-polling: spins on the ring head the device publishes instead of
    /// sleeping until the daemon's message arrives, and returns the newest frame it has not
    /// returned yet. The lowest latency there is (no wake-up at all), at the price of a CPU
    /// core. Messages from the daemon are still read every few thousand spins, so drops,
    /// errors and Goodbye are seen; frames they announce are superseded by the head.
    public func nextFrameBusyPolling(timeout: Duration? = nil) throws -> Frame {
        guard mode == .latest else {
            throw CaptureClientError.protocolViolation("busy polling reads the newest frame: it needs latest mode")
        }
        let deadline = timeout.map(deadline(after:))
        let current = connection.withLock { $0 }
        var spins: UInt32 = 0
        while true {
            if let frame = takeNewest(from: current) { return frame }
            spins &+= 1
            if spins & 4095 == 0 {
                while try receiveOne(current) {}
                // The head supersedes announced frames: uncount them, or a client without a
                // doorbell would see each frame counted twice. Other events stay counted.
                let superseded = inbox.withLock { events -> UInt64 in
                    defer { events.removeAll() }
                    return UInt64(events.count { if case .frame = $0 { true } else { false } })
                }
                if superseded > 0 { counters.withLock { $0.frames -= superseded } }
                if let deadline, monotonicNanoseconds() >= deadline { throw CaptureClientError.timedOut }
            }
            capture_cpu_relax()
        }
    }

    /// Connects again with backoff (50 ms doubling to 1 s). The frames published since the last
    /// one this client saw and before the new session began are reported as one drop.
    private func reconnect(after old: Connection, within limit: Duration, because why: String) throws {
        let lastSeen = counters.withLock { $0.lastSequence }
        let deadline = ContinuousClock.now + limit
        var delay = Duration.milliseconds(50)
        while ContinuousClock.now < deadline {
            if closed.load(ordering: .acquiring) { throw CaptureClientError.daemonGone(why) }
            if let fresh = try? Self.open(stream: stream, mode: mode, maxLeases: maxLeases, socketPath: socketPath, generation: old.generation + 1, doorbell: doorbell) {
                connection.withLock { $0 = fresh }
                old.socket.close() // the old mapping lives on in the frames that hold it
                old.doorbell?.close()
                newestTaken.withLock { $0 = fresh.welcome.headSequence }
                counters.withLock { $0.reconnects += 1 }
                let head = fresh.welcome.headSequence
                if lastSeen > 0 && head > lastSeen {
                    let missed = Dropped(firstSequence: lastSeen + 1, count: head - lastSeen, reason: .reconnect,
                                         clientTotal: counters.withLock { $0.dropped } + (head - lastSeen))
                    counters.withLock { $0.dropped += missed.count }
                    inbox.withLock { $0.append(.dropped(missed)) }
                }
                // A daemon that made a new ring (synthetic streams) numbers frames from 1 again.
                counters.withLock { $0.lastSequence = head }
                inbox.withLock { $0.append(.reconnected(headSequence: head)) }
                return
            }
            Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds))
            delay = min(delay * 2, .seconds(1))
        }
        throw CaptureClientError.daemonGone("\(why); no daemon answered within \(limit)")
    }

    /// The newest frame the ring head names, if it is newer than the last one taken and stable
    /// (a head slot already being refilled means a newer frame, and another ring, is coming).
    private func takeNewest(from current: Connection) -> Frame? {
        let ring = current.ring
        let head = ring.head
        guard head.sequence > newestTaken.withLock({ $0 }), head.slot < ring.geometry.slotCount else { return nil }
        let snapshot = ring.descriptor(head.slot).snapshot()
        guard snapshot.sequence == head.sequence && !snapshot.isBeingFilled else { return nil }
        newestTaken.withLock { $0 = head.sequence }
        counters.withLock {
            $0.frames += 1
            $0.lastSequence = max($0.lastSequence, head.sequence)
        }
        return Frame(sequence: head.sequence, slot: UInt32(head.slot), snapshot: snapshot, isLeased: false, ring: ring, session: current.generation)
    }

    /// Reads one message without blocking; false when there was none.
    @discardableResult
    private func receiveOne(_ current: Connection) throws -> Bool {
        let incoming = try MessageSocket.receive(current.socket, blocking: false)
        switch incoming {
        case .wouldBlock: return false
        case .closed: throw CaptureClientError.daemonGone("the connection was closed")
        case .invalid(let e, let fds):
            closeAll(fds)
            throw CaptureClientError.protocolViolation(e.description)
        case .message(let message, let fds):
            closeAll(fds)
            try accept(message, on: current)
            return true
        }
    }

    private func accept(_ message: Message, on current: Connection) throws {
        let ring = current.ring
        switch message {
        case .frames(let entries):
            var events: [CaptureEvent] = []
            for e in entries {
                guard Int(e.slot) < ring.geometry.slotCount else { throw CaptureClientError.protocolViolation("slot \(e.slot) is outside the ring") }
                let snapshot = ring.descriptor(Int(e.slot)).snapshot()
                if mode == .latest && (snapshot.sequence != e.sequence || snapshot.isBeingFilled) {
                    counters.withLock { $0.overwritten += 1 } // superseded before we looked
                    continue
                }
                events.append(.frame(Frame(sequence: e.sequence, slot: e.slot, snapshot: snapshot, isLeased: mode == .lease,
                                           ring: ring, session: current.generation)))
            }
            counters.withLock {
                $0.frames += UInt64(events.count)
                if let last = entries.last { $0.lastSequence = max($0.lastSequence, last.sequence) }
            }
            inbox.withLock { $0.append(contentsOf: events) }
        case .dropped(let d):
            counters.withLock {
                $0.dropped += d.count
                $0.lastSequence = max($0.lastSequence, d.firstSequence + d.count - 1)
            }
            inbox.withLock { $0.append(.dropped(d)) }
        case .leaseRevoked(let e):
            counters.withLock { $0.revoked += 1 }
            inbox.withLock { $0.append(.leaseRevoked(sequence: e.sequence, slot: e.slot)) }
        case .error(let code, let text):
            if code == .notLeased {
                inbox.withLock { $0.append(.notice(code, text)) }
            } else {
                throw CaptureClientError.refused(code, text)
            }
        case .goodbye(let reason, let text):
            if reason == .streamDetached { throw CaptureClientError.streamDetached(text) }
            throw CaptureClientError.daemonGone(text.isEmpty ? "Goodbye" : text)
        case .statusReply:
            break
        case .hello, .welcome, .release, .statusRequest:
            throw CaptureClientError.protocolViolation("unexpected \(message.type)")
        }
    }

    /// Gives frames back (lease mode); a no-op for latest clients and for frames of an earlier
    /// session (the restarted daemon holds no lease for them).
    public func release(_ frames: [Frame]) throws {
        guard mode == .lease, !frames.isEmpty else { return }
        let current = connection.withLock { $0 }
        let mine = frames.filter { $0.session == current.generation }.map(\.entry)
        for start in stride(from: 0, to: mine.count, by: CaptureProtocol.maxBatch) {
            let chunk = Array(mine[start..<min(start + CaptureProtocol.maxBatch, mine.count)])
            do {
                _ = try MessageSocket.send(current.socket, .release(chunk))
            } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
                if reconnectFor != nil { return } // the next nextEvent reconnects; these leases are gone anyway
                throw CaptureClientError.daemonGone("\(e)")
            }
        }
    }

    public func release(_ frame: Frame) throws { try release([frame]) }

    /// Frames as an async sequence, read on a thread of their own. Ending the iteration
    /// closes the client.
    public var frames: AsyncThrowingStream<Frame, Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    while true {
                        let frame = try self.nextFrame()
                        if case .terminated = continuation.yield(frame) { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [self] _ in self.close() }
            thread.start()
        }
    }

    /// Every event as an async sequence; ending the iteration closes the client.
    public var events: AsyncThrowingStream<CaptureEvent, Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    while true {
                        if case .terminated = continuation.yield(try self.nextEvent()) { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [self] _ in self.close() }
            thread.start()
        }
    }

    /// Says Goodbye and shuts the connection down; the daemon releases every lease at once.
    /// Frames already obtained stay readable (the mapping lives as long as they do).
    public func close() {
        closed.store(true, ordering: .releasing)
        let current = connection.withLock { $0 }
        _ = try? MessageSocket.send(current.socket, .goodbye(reason: .normal, message: ""), blocking: false)
        UnixSocket.shutdown(current.socket)
    }
}
