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
    /// The daemon sent something this library does not understand.
    case protocolViolation(String)
    case timedOut

    public var description: String {
        switch self {
        case .daemonGone(let why): return "captured went away: \(why)"
        case let .refused(code, text): return "captured refused: \(code): \(text)"
        case .protocolViolation(let why): return "protocol violation from captured: \(why)"
        case .timedOut: return "timed out waiting for captured"
        }
    }
}

/// A connection to captured for one stream.
///
/// `connect` says Hello, receives the ring's memfd and maps it read-only. Frames then arrive as
/// events (`nextEvent`, `nextFrame`, or the `frames`/`events` async sequences). In lease mode
/// every frame must be `release`d. `close()` ends the connection; the daemon releases whatever
/// the client still held.
public final class CaptureClient: Sendable {
    public let stream: String
    public let mode: ClientMode
    public let welcome: Welcome
    public let ring: RingReader
    private let socket: FileDescriptor
    private let inbox = Mutex<Deque<CaptureEvent>>([])
    private let counters = Mutex<Statistics>(Statistics())

    public struct Statistics: Sendable, Equatable {
        public var frames: UInt64 = 0
        public var dropped: UInt64 = 0
        public var revoked: UInt64 = 0
        /// Latest mode: frames announced but already overwritten when we looked.
        public var overwritten: UInt64 = 0
    }

    public var statistics: Statistics { counters.withLock { $0 } }

    /// Connects to `socketPath`, asks for `stream` in `mode`, and maps the ring read-only.
    /// `maxLeases` 0 takes the stream's limit.
    public static func connect(stream: String, mode: ClientMode = .lease, maxLeases: Int = 0,
                               socketPath: String = SocketPath.default) throws -> CaptureClient {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        do {
            _ = try MessageSocket.send(socket, .hello(stream: stream, mode: mode, maxLeases: UInt16(clamping: maxLeases)))
        } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
            // Refused at accept (allow-list, max_clients): the reason is waiting to be read.
        }
        let (reply, fds) = try receiveReply(socket, expecting: "Welcome")
        guard case .welcome(let welcome) = reply else {
            closeAll(fds)
            throw CaptureClientError.protocolViolation("expected Welcome, got \(reply.type)")
        }
        guard fds.count == 1 else {
            closeAll(fds)
            throw CaptureClientError.protocolViolation("Welcome carried \(fds.count) descriptors, expected the ring's memfd")
        }
        let memfd = FileDescriptor(owning: fds[0])
        defer { memfd.close() } // the mapping keeps the ring; the descriptor is not needed
        let ring = try RingReader(memfd: memfd)
        return CaptureClient(stream: stream, mode: mode, welcome: welcome, ring: ring, socket: socket)
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

    private init(stream: String, mode: ClientMode, welcome: Welcome, ring: RingReader, socket: FileDescriptor) {
        self.stream = stream
        self.mode = mode
        self.welcome = welcome
        self.ring = ring
        self.socket = socket
    }

    deinit { socket.close() }

    /// Asks the daemon for its status (no Hello needed).
    public static func status(socketPath: String = SocketPath.default) throws -> StatusReport {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        _ = try MessageSocket.send(socket, .statusRequest)
        let (reply, fds) = try receiveReply(socket, expecting: "StatusReply")
        closeAll(fds)
        guard case .statusReply(let json) = reply else {
            throw CaptureClientError.protocolViolation("expected StatusReply, got \(reply.type)")
        }
        return try JSONDecoder().decode(StatusReport.self, from: Data(json))
    }

    /// The next event; blocks up to `timeout` (nil: forever).
    public func nextEvent(timeout: Duration? = nil) throws -> CaptureEvent {
        let deadline = timeout.map { monotonicNanoseconds() + UInt64($0.components.seconds) * 1_000_000_000 + UInt64($0.components.attoseconds / 1_000_000_000) }
        while true {
            if let event = inbox.withLock({ $0.popFirst() }) { return event }
            var wait: Int64 = -1
            if let deadline {
                let now = monotonicNanoseconds()
                if now >= deadline { throw CaptureClientError.timedOut }
                wait = Int64(deadline - now)
            }
            if capture_wait_readable(socket.raw, wait) == 0 { continue }
            try receiveOne()
        }
    }

    /// The next frame; drops and revocations on the way are counted in `statistics`.
    public func nextFrame(timeout: Duration? = nil) throws -> Frame {
        while true {
            if case .frame(let frame) = try nextEvent(timeout: timeout) { return frame }
        }
    }

    private func receiveOne() throws {
        let incoming = try MessageSocket.receive(socket, blocking: false)
        switch incoming {
        case .wouldBlock: return
        case .closed: throw CaptureClientError.daemonGone("the connection was closed")
        case .invalid(let e, let fds):
            closeAll(fds)
            throw CaptureClientError.protocolViolation(e.description)
        case .message(let message, let fds):
            closeAll(fds)
            try accept(message)
        }
    }

    private func accept(_ message: Message) throws {
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
                events.append(.frame(Frame(sequence: e.sequence, slot: e.slot, length: Int(snapshot.length),
                                           timestampNanoseconds: snapshot.timestamp, flags: snapshot.flags,
                                           checksum: snapshot.checksum, isLeased: mode == .lease,
                                           snapshot: snapshot, ring: ring)))
            }
            counters.withLock { $0.frames += UInt64(events.count) }
            inbox.withLock { $0.append(contentsOf: events) }
        case .dropped(let d):
            counters.withLock { $0.dropped += d.count }
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
        case .goodbye(_, let text):
            throw CaptureClientError.daemonGone(text.isEmpty ? "Goodbye" : text)
        case .statusReply:
            break
        case .hello, .welcome, .release, .statusRequest:
            throw CaptureClientError.protocolViolation("unexpected \(message.type)")
        }
    }

    /// Gives frames back (lease mode); a no-op for latest clients.
    public func release(_ frames: [Frame]) throws {
        guard mode == .lease, !frames.isEmpty else { return }
        for start in stride(from: 0, to: frames.count, by: CaptureProtocol.maxBatch) {
            let chunk = frames[start..<min(start + CaptureProtocol.maxBatch, frames.count)].map(\.entry)
            do {
                _ = try MessageSocket.send(socket, .release(chunk))
            } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
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
        _ = try? MessageSocket.send(socket, .goodbye(reason: .normal, message: ""), blocking: false)
        UnixSocket.shutdown(socket)
    }
}
