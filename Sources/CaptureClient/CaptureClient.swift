#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureRing
import CaptureSystem
import DequeModule
import Synchronization

/// A connection to captured for one stream.
///
/// `connect` says Hello, receives the ring's memfd and maps it read-only. Frames then arrive as
/// events (`nextEvent`, `nextFrame`, `nextFrames`, or the `frames`/`events` async sequences). In
/// lease mode every frame must be `release`d. With `reconnect`, a daemon that goes away
/// (restart, crash) is reconnected to with backoff; frames already obtained stay readable
/// throughout, and the frames published while disconnected are reported as dropped. `close()`
/// ends the session; the daemon releases whatever the client still held.
///
/// Thread safety: every method may be called from any thread. One lock guards the client's
/// state (the current connection, the events not yet returned, the statistics); no call waits
/// on the socket while holding it.
///
/// The files of this client: Connection.swift (one session and what it owns),
/// CaptureClient+Receiving.swift (waiting, batches, busy polling), +Events (what each daemon
/// message means), +Reconnect, +Async (the async sequences), +Status.
public final class CaptureClient: Sendable {
    public let stream: String
    public let mode: ClientMode
    let maxLeases: Int
    let socketPath: String
    /// How long to keep trying to reconnect; nil: do not reconnect.
    let reconnectFor: Duration?
    /// Whether Hello asks to be woken by the device: a doorbell (latest mode), self-serve
    /// leases (lease mode).
    let wantsDoorbell: Bool
    let state: Locked<State>
    /// Set by `close()`; read without the lock by waiting threads.
    let closed = Atomic<Bool>(false)

    struct State {
        var connection: Connection
        /// Events read from the daemon and not yet returned, oldest first.
        var inbox = Deque<CaptureEvent>()
        var statistics = Statistics()
        /// The newest sequence taken from the ring head (doorbell or busy polling).
        var newestTaken: UInt64 = 0
        /// The doorbell rang and is not reset yet: reset on the next look, not before the frames
        /// it rang for are returned (a read(2) less between the ring and the frame).
        var bellRang = false
        /// Self-serve lease mode: which entries of the holds page are free or hold what.
        var holds = SelfServeHolds()
        /// The daemon went away and this client is reconnecting (see CaptureClient+Reconnect).
        var away: Away?
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

    public var statistics: Statistics { state.withLock { $0.statistics } }
    /// The current session's Welcome.
    public var welcome: Welcome { connection.welcome }
    /// The current session's read-only mapping of the ring.
    public var ring: RingReader { connection.ring }
    var connection: Connection { state.withLock { $0.connection } }

    /// Connects to `socketPath`, asks for `stream` in `mode`, and maps the ring read-only.
    /// `maxLeases` 0 takes the stream's limit. `reconnect`: keep the session alive across
    /// daemon restarts, retrying with backoff for up to that long each time.
    /// `doorbell`: ask to be woken by the device itself rather than by the daemon's Frames
    /// message — one wake-up instead of two. In lease mode the client then takes its own leases
    /// (PROTOCOL.md §3.2.2). Streams whose device cannot fall back to messages silently.
    public init(stream: String, mode: ClientMode = .lease, maxLeases: Int = 0,
                socketPath: String = SocketPath.default, reconnect: Duration? = nil, doorbell: Bool = true) throws {
        self.stream = stream
        self.mode = mode
        self.maxLeases = maxLeases
        self.socketPath = socketPath
        reconnectFor = reconnect
        wantsDoorbell = doorbell
        let hello = Self.hello(stream: stream, mode: mode, maxLeases: maxLeases, doorbell: wantsDoorbell)
        state = Locked(State(connection: try Connection.open(socketPath: socketPath, hello: hello, generation: 0)))
    }

    /// A client on a socket already connected to the daemon (or to something playing it, as
    /// the fuzzer does). It cannot reconnect.
    package init(connectedSocket socket: FileDescriptor, stream: String, mode: ClientMode, maxLeases: Int = 0, doorbell: Bool = true) throws {
        self.stream = stream
        self.mode = mode
        self.maxLeases = maxLeases
        socketPath = ""
        reconnectFor = nil
        wantsDoorbell = doorbell
        let hello = Self.hello(stream: stream, mode: mode, maxLeases: maxLeases, doorbell: wantsDoorbell)
        state = Locked(State(connection: try Connection(handshakeOn: socket, hello: hello, generation: 0)))
    }

    /// The same as `init`, for call sites that read better as a verb.
    public static func connect(stream: String, mode: ClientMode = .lease, maxLeases: Int = 0,
                               socketPath: String = SocketPath.default, reconnect: Duration? = nil, doorbell: Bool = true) throws -> CaptureClient {
        try CaptureClient(stream: stream, mode: mode, maxLeases: maxLeases, socketPath: socketPath, reconnect: reconnect, doorbell: doorbell)
    }

    /// Lease mode asks to take its own leases (granted when the stream's device recycles its
    /// slots: one wake-up per frame, no daemon in between); latest mode asks for a doorbell.
    static func hello(stream: String, mode: ClientMode, maxLeases: Int, doorbell: Bool) -> Message {
        .hello(stream: stream, mode: mode, maxLeases: UInt16(clamping: maxLeases),
               flags: !doorbell ? [] : mode == .lease ? .selfServe : .doorbell)
    }

    deinit { state.withLock { $0.connection.close() } }

    /// Gives frames back (lease mode); a no-op for latest clients and for frames of an earlier
    /// session (the restarted daemon holds no lease for them).
    public func release(_ frames: [Frame]) throws {
        guard mode == .lease, !frames.isEmpty else { return }
        let current = connection
        // Taken itself in an earlier session (the daemon restarted meanwhile): its entry is in
        // that session's page, which the driver honours until the new daemon retires it.
        for f in frames where f.session != current.generation { f.holds?.clear(f.sequence) }
        if let page = current.holds {
            // Self-serve: clear the entries; no message, no daemon.
            state.withLock { s in
                for f in frames where f.session == current.generation { s.holds.release(f.sequence, in: page) }
            }
            return
        }
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

    /// Says Goodbye and shuts the connection down; the daemon releases every lease at once.
    /// Frames already obtained stay readable (the mapping lives as long as they do). A thread
    /// waiting in `nextEvent` wakes with `daemonGone`.
    public func close() {
        closed.store(true, ordering: .releasing)
        let current = connection
        _ = try? MessageSocket.send(current.socket, .goodbye(reason: .normal, message: ""), blocking: false)
        current.shutdown()
    }
}
