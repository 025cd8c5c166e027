import CaptureProtocol
import CaptureSystem
import DequeModule

/// One connected client: its socket, identity, mode, leases and the messages waiting to go
/// out. Owned by the event loop; its socket closes when the session is closed.
final class ClientSession {
    struct Lease {
        var sequence: UInt64
        var grantedAt: UInt64
    }

    let id: UInt32
    let socket: FileDescriptor
    let peer: PeerCredentials

    /// Set by Hello.
    var stream: StreamEngine?
    var mode: ClientMode = .lease
    var maxLeases = 0
    /// Slot → lease. A slot holds at most one frame, so at most one lease per client.
    var leases: [UInt32: Lease] = [:]
    /// Latest mode with a doorbell: the device rings it for every frame and no Frames messages
    /// are sent. Registered with the device until the session leaves its stream.
    var doorbell: EventCounter?

    var outbox = Deque<Message>()
    /// When the socket last refused a message (nil while it keeps up).
    var blockedSince: UInt64?
    var watchingWritable = false
    var closing = false
    /// A Goodbye is queued; the connection closes once it is sent (or after a second).
    var goodbyeSince: UInt64?

    var delivered: UInt64 = 0
    var dropped: UInt64 = 0
    var revoked: UInt64 = 0
    var lastNotified: UInt64 = 0

    init(id: UInt32, socket: FileDescriptor, peer: PeerCredentials) {
        self.id = id
        self.socket = socket
        self.peer = peer
    }

    var logMetadata: String { "client=\(id) pid=\(peer.pid) uid=\(peer.uid)" }

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

    enum FlushResult { case drained, blocked, failed(Error) }

    /// Sends what is waiting without blocking.
    func flush(now: UInt64) -> FlushResult {
        while let next = outbox.first {
            do {
                switch try MessageSocket.send(socket, next, blocking: false) {
                case .sent:
                    if case .frames(let entries) = next { delivered += UInt64(entries.count) }
                    outbox.removeFirst()
                case .wouldBlock:
                    if blockedSince == nil { blockedSince = now }
                    return .blocked
                }
            } catch {
                return .failed(error)
            }
        }
        blockedSince = nil
        return .drained
    }
}
