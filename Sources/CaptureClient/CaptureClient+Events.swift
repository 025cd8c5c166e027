import CaptureProtocol
import CaptureRing

extension CaptureClient {
    /// What one message from the daemon means for this client: frames, drops, revocations and
    /// notices become events; a fatal Error, a Goodbye or anything a daemon never sends ends
    /// the session with an error. Nothing the daemon says can make the client read outside
    /// the ring: slots are checked against it here, lengths are clamped by the RingReader.
    func accept(_ message: Message, on current: Connection) throws {
        let ring = current.ring
        switch message {
        case .frames(let entries):
            var events: [CaptureEvent] = []
            var overwritten: UInt64 = 0
            for e in entries {
                guard Int(e.slot) < ring.geometry.slotCount else { throw CaptureClientError.protocolViolation("slot \(e.slot) is outside the ring") }
                let snapshot = ring.descriptor(Int(e.slot)).snapshot()
                if mode == .latest && (snapshot.sequence != e.sequence || snapshot.isBeingFilled) {
                    overwritten += 1 // superseded before we looked
                    continue
                }
                events.append(.frame(Frame(sequence: e.sequence, slot: e.slot, snapshot: snapshot, isLeased: mode == .lease,
                                           ring: ring, session: current.generation)))
            }
            state.withLock { s in
                s.statistics.frames += UInt64(events.count)
                s.statistics.overwritten += overwritten
                if let last = entries.last { s.statistics.lastSequence = max(s.statistics.lastSequence, last.sequence) }
                s.inbox.append(contentsOf: events)
            }
        case .dropped(let d):
            state.withLock { s in
                s.statistics.dropped &+= d.count
                s.statistics.lastSequence = max(s.statistics.lastSequence, d.firstSequence &+ d.count &- 1)
                s.inbox.append(.dropped(d))
            }
        case .leaseRevoked(let e):
            state.withLock { s in
                // Self-serve: the device no longer honours that hold; the entry is free again.
                if let page = current.holds { s.holds.release(e.sequence, in: page) }
                s.statistics.revoked += 1
                s.inbox.append(.leaseRevoked(sequence: e.sequence, slot: e.slot))
            }
        case .error(let code, let text):
            guard code == .notLeased else { throw CaptureClientError.refused(code, text) }
            state.withLock { $0.inbox.append(.notice(code, text)) }
        case .goodbye(let reason, let text):
            if reason == .streamDetached { throw CaptureClientError.streamDetached(text) }
            throw CaptureClientError.daemonGone(text.isEmpty ? "Goodbye" : text)
        case .statusReply:
            break
        case .hello, .welcome, .release, .statusRequest:
            throw CaptureClientError.protocolViolation("unexpected \(message.type)")
        }
    }
}
