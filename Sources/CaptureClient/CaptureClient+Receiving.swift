#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureRing
import CaptureSystem
import DequeModule

extension CaptureClient {
    /// The next event; blocks up to `timeout` (nil: forever).
    public func nextEvent(timeout: Duration? = nil) throws -> CaptureEvent {
        let deadline = timeout.map(Self.deadline(after:))
        while true {
            if let event = state.withLock({ $0.inbox.popFirst() }) { return event }
            var wait: Int64 = -1
            if let deadline {
                let now = monotonicNanoseconds()
                if now >= deadline { throw CaptureClientError.timedOut }
                wait = Int64(deadline - now)
            }
            if let away = state.withLock({ $0.away }) {
                try stepWhileAway(away, deadline: deadline)
                continue
            }
            let current = connection
            var socketReady = true
            if let bell = current.doorbell {
                // The ring head first: the bell may have rung for it already. The bell is reset
                // before the head is read again, so a frame published meanwhile rings it anew;
                // a bell that rang is reset only once its frames are returned.
                if current.holds != nil {
                    if takeSelfServed(from: current) { continue } // the inbox has them now
                    publishExamined(to: current) // nothing new: about to sleep
                    if takeSelfServed(from: current) { continue }
                } else if let frame = takeNewest(from: current) {
                    return .frame(frame)
                }
                if state.withLock({ s in defer { s.bellRang = false }; return s.bellRang }) {
                    bell.drainReadable()
                    continue
                }
                let ready = Poll.readable(current.socket, bell, timeoutNanoseconds: wait)
                if ready.second { state.withLock { $0.bellRang = true } }
                socketReady = ready.first
            } else {
                socketReady = Poll.readable(current.socket, timeoutNanoseconds: wait)
            }
            if !socketReady { continue }
            do {
                try receiveOne(current)
            } catch CaptureClientError.daemonGone(let why) {
                guard let reconnectFor, !closed.load(ordering: .acquiring) else { throw CaptureClientError.daemonGone(why) }
                beginReconnecting(after: current, within: reconnectFor, because: why)
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
        let current = connection
        // What the socket already holds, without blocking (bounded, so a flood cannot pin us
        // here). A client woken by the device gets no frames by message: nothing to look for.
        for _ in 0..<8 where current.doorbell == nil && state.withLock({ $0.inbox.isEmpty }) {
            guard try receiveOne(current) else { break }
        }
        state.withLock { s in
            guard !s.inbox.isEmpty else { return }
            var rest = Deque<CaptureEvent>()
            for event in s.inbox {
                if case .frame(let frame) = event { frames.append(frame) } else { rest.append(event) }
            }
            if rest.isEmpty { s.inbox.removeAll(keepingCapacity: true) } else { s.inbox = rest }
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
        let deadline = timeout.map(Self.deadline(after:))
        let current = connection
        var spins: UInt32 = 0
        while true {
            if let frame = takeNewest(from: current) { return frame }
            spins &+= 1
            if spins & 4095 == 0 {
                while try receiveOne(current) {}
                // The head supersedes announced frames: uncount them, or a client without a
                // doorbell would see each frame counted twice. Other events stay counted.
                state.withLock { s in
                    let superseded = UInt64(s.inbox.count { if case .frame = $0 { true } else { false } })
                    s.inbox.removeAll()
                    s.statistics.frames -= superseded
                }
                if let deadline, monotonicNanoseconds() >= deadline { throw CaptureClientError.timedOut }
            }
            CPU.relax()
        }
    }

    /// The newest frame the ring head names, if it is newer than the last one taken and stable
    /// (a head slot already being refilled means a newer frame, and another ring, is coming).
    func takeNewest(from current: Connection) -> Frame? {
        let ring = current.ring
        let head = ring.head
        guard head.slot < ring.geometry.slotCount else { return nil }
        let snapshot = ring.descriptor(head.slot).snapshot()
        guard snapshot.sequence == head.sequence && !snapshot.isBeingFilled else { return nil }
        let taken = state.withLock { s -> Bool in
            guard head.sequence > s.newestTaken else { return false }
            s.newestTaken = head.sequence
            s.statistics.frames += 1
            s.statistics.lastSequence = max(s.statistics.lastSequence, head.sequence)
            return true
        }
        guard taken else { return nil }
        return Frame(sequence: head.sequence, slot: UInt32(head.slot), snapshot: snapshot, isLeased: false, ring: ring, session: current.generation)
    }

    /// Reads one message without blocking and turns it into events; false when there was none.
    @discardableResult
    func receiveOne(_ current: Connection) throws -> Bool {
        guard let message = try current.receive() else { return false }
        try accept(message, on: current)
        return true
    }

    /// CLOCK_MONOTONIC nanoseconds `timeout` from now.
    static func deadline(after timeout: Duration) -> UInt64 {
        let (seconds, attoseconds) = timeout.components
        return monotonicNanoseconds() &+ UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
    }
}
