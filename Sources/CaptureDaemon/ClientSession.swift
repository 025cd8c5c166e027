import CaptureProtocol
import CaptureRing
import CaptureSystem
import DequeModule

/// One connected client: its socket, identity, mode, the messages waiting to go out, and
/// what it may still ask of us. The outbox has one owner: only these methods add to it.
/// Owned by the daemon's client table; its socket closes when the session is closed.
/// Leases and doorbells belong to the stream the session joined (StreamEngine).
final class ClientSession {
    let id: UInt32
    let socket: FileDescriptor
    let peer: PeerCredentials
    /// Root or the daemon's own user: counted apart, so others cannot lock them out.
    let privileged: Bool
    let connectedAt: UInt64

    /// Set by Hello.
    var stream: StreamEngine?
    var mode: ClientMode = .lease
    var maxLeases = 0
    /// Said `selfServe` in Hello: understands drop reason 5 (and takes its own leases when the
    /// stream's device recycles slots: then `holds` is set).
    var selfServe = false
    /// A self-serve client's holds page and its registration with the device (StreamEngine's).
    var holds: (page: HoldsPage, id: UInt32)?
    /// When the daemon first saw each held sequence of a self-serve client (lease timeouts).
    var holdsSeenAt: [UInt64: UInt64] = [:]

    private(set) var outbox = Deque<Message>()
    /// When the daemon last found the socket full, or a latest client's previous Frames unread
    /// (nil while it keeps up). A client that stays so for client_timeout_ms is evicted.
    private(set) var behindSince: UInt64?
    /// A StatusReply waits in the outbox: nothing more is read from this client until it is sent.
    private(set) var statusPending = false
    /// Errors `not_leased` not yet reported, merged into one message.
    private var pendingNotLeased = 0
    /// The events registered with epoll for this socket (the event loop keeps it current).
    var interest: Epoll.Events = .readable
    var closing = false
    /// A Goodbye is queued; the connection closes once it is sent (or after a second).
    private(set) var goodbyeSince: UInt64?
    /// Last time this client asked for something before saying Hello (the Hello deadline).
    var lastRequestAt: UInt64

    /// Status requests this client may still make now (refilled over time; see `refill`).
    private var statusTokens = ClientSession.statusBurst
    static let statusBurst = 8.0
    static let statusPerSecond = 20.0
    private var tokensAt: UInt64

    private(set) var delivered: UInt64 = 0
    private(set) var dropped: UInt64 = 0
    private(set) var revoked: UInt64 = 0
    var lastNotified: UInt64 = 0

    init(id: UInt32, socket: FileDescriptor, peer: PeerCredentials, privileged: Bool, now: UInt64) {
        self.id = id
        self.socket = socket
        self.peer = peer
        self.privileged = privileged
        connectedAt = now
        lastRequestAt = now
        tokensAt = now
    }

    var hasOutput: Bool { !outbox.isEmpty || pendingNotLeased > 0 }

    /// Whether to read this client's socket now: not while it has a status reply waiting, owes
    /// us reading (a long outbox), is out of status tokens, or is on its way out.
    var wantsInput: Bool {
        !closing && goodbyeSince == nil && !statusPending && outbox.count < 64 && statusTokens >= 1
    }

    /// Token bucket for status requests: `statusPerSecond`, bursts of `statusBurst`.
    func refill(now: UInt64) {
        statusTokens = min(Self.statusBurst, statusTokens + Double(now - tokensAt) / 1e9 * Self.statusPerSecond)
        tokensAt = now
    }

    func takeStatusToken() { statusTokens -= 1 }

    // MARK: the outbox

    /// Queues a frame notification, joining the batch already waiting when there is one.
    /// In latest mode only the newest frame waits: older ones are superseded, not dropped.
    func enqueue(frame: FrameEntry) {
        lastNotified = frame.sequence
        guard case .frames(var entries)? = outbox.last else {
            outbox.append(.frames([frame]))
            return
        }
        if mode == .latest {
            outbox[outbox.count - 1] = .frames([frame])
        } else if entries.count < CaptureProtocol.maxBatch {
            // Take the batch out first: with the outbox still holding it, append would copy
            // the whole array for every frame (quadratic in the batch size).
            outbox.removeLast()
            entries.append(frame)
            outbox.append(.frames(entries))
        } else {
            outbox.append(.frames([frame]))
        }
    }

    /// A self-serve client (no messages): the device rang for a frame it had room to take, or
    /// one it could not take, at its limit or lost by the device. The client finds out itself.
    func count(offered: Bool, dropped drops: UInt64 = 1) {
        if offered { delivered += 1 } else { dropped += drops }
    }

    /// Queues a drop report, merged with the previous one when it continues it.
    func enqueue(drop first: UInt64, count: UInt64, reason: DropReason) {
        dropped += count
        if case .dropped(var d)? = outbox.last, d.reason == reason, d.firstSequence + d.count == first {
            d.count += count
            d.clientTotal = dropped
            outbox[outbox.count - 1] = .dropped(d)
            return
        }
        outbox.append(.dropped(Dropped(firstSequence: first, count: count, reason: reason, clientTotal: dropped)))
    }

    func enqueue(revoked entry: FrameEntry) {
        revoked += 1
        outbox.append(.leaseRevoked(entry))
    }

    /// Releases of frames this client did not hold: one non-fatal Error for all of them.
    func noteNotLeased(_ count: Int) { pendingNotLeased += count }

    func enqueue(statusReply json: [UInt8]) {
        outbox.append(.statusReply(json: json))
        statusPending = true
    }

    func enqueue(error code: ErrorCode, _ text: String) {
        outbox.append(.error(code: code, message: text))
    }

    /// Drops whatever was still queued and queues a Goodbye; the connection closes once the
    /// Goodbye is sent.
    func enqueueGoodbye(_ reason: GoodbyeReason, _ text: String, now: UInt64) {
        outbox.removeAll()
        pendingNotLeased = 0
        outbox.append(.goodbye(reason: reason, message: text))
        goodbyeSince = now
    }

    enum FlushResult { case drained, heldBack, blocked, failed(Error) }

    /// Sends what is waiting without blocking. A latest client is sent a Frames message only
    /// once it has read the previous one, so it is never told of frames it would find stale:
    /// meanwhile the newest frame replaces the waiting one (`heldBack`).
    func flush(now: UInt64) -> FlushResult {
        if pendingNotLeased > 0 {
            // Not fatal: a release can race with a revocation.
            outbox.append(.error(code: .notLeased, message: "\(pendingNotLeased) released frame(s) were not leased to this client (revoked?)"))
            pendingNotLeased = 0
        }
        while let next = outbox.first {
            if mode == .latest, goodbyeSince == nil, case .frames = next, UnixSocket.unreadBytes(socket) > 0 {
                if behindSince == nil { behindSince = now }
                return .heldBack
            }
            do {
                switch try MessageSocket.send(socket, next, blocking: false) {
                case .sent:
                    switch next {
                    case .frames(let entries): delivered += UInt64(entries.count)
                    case .statusReply: statusPending = false
                    default: break
                    }
                    outbox.removeFirst()
                case .wouldBlock:
                    if behindSince == nil { behindSince = now }
                    return .blocked
                }
            } catch {
                return .failed(error)
            }
        }
        behindSince = nil
        return .drained
    }
}
