#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureSystem

/// A client whose daemon went away: until when it tries, when it tries next, and the attempt
/// under way (Hello said, the Welcome not yet come).
struct Away {
    let why: String
    let until: UInt64
    var nextAttempt: UInt64
    var delay: UInt64 = 50_000_000
    var pending: FileDescriptor?
}

extension CaptureClient {
    /// The daemon is gone: reconnect attempts begin (50 ms apart, doubling to 1 s) until
    /// `reconnectFor` has passed. Meanwhile a client woken by the device (a doorbell, self-serve
    /// leases) keeps taking frames from the ring it has: the device does not stop for a
    /// restarting daemon, and the driver keeps its doorbell and holds for a grace period.
    func beginReconnecting(after old: Connection, within limit: Duration, because why: String) {
        let now = monotonicNanoseconds()
        let nanoseconds = UInt64(limit.components.seconds) * 1_000_000_000 + UInt64(limit.components.attoseconds / 1_000_000_000)
        state.withLock { s in
            if s.away == nil { s.away = Away(why: why, until: now + nanoseconds, nextAttempt: now) }
        }
    }

    /// One step while away: start an attempt when one is due; take the Welcome when it has come;
    /// else take frames from the old ring, or wait (on the old doorbell and the attempt) until
    /// something happens, the next attempt, or `deadline`.
    func stepWhileAway(_ away: Away, deadline: UInt64?) throws {
        let now = monotonicNanoseconds()
        if closed.load(ordering: .acquiring) { throw CaptureClientError.daemonGone(away.why) }
        if away.pending == nil && now >= away.nextAttempt {
            if now >= away.until { throw CaptureClientError.daemonGone("\(away.why); no daemon answered within the reconnect time") }
            let hello = Self.hello(stream: stream, mode: mode, maxLeases: maxLeases, doorbell: wantsDoorbell)
            let pending = try? Connection.begin(socketPath: socketPath, hello: hello)
            state.withLock { s in
                s.away?.pending = pending
                s.away?.nextAttempt = now + away.delay
                s.away?.delay = min(away.delay * 2, 1_000_000_000)
            }
            return
        }
        let old = connection
        if old.doorbell != nil {
            if old.holds != nil {
                if takeSelfServed(from: old) { return }
                publishExamined(to: old) // nothing new: about to sleep
                if takeSelfServed(from: old) { return }
            } else if let frame = takeNewest(from: old) {
                state.withLock { s in
                    s.statistics.frames += 1
                    s.inbox.append(.frame(frame))
                }
                return
            }
        }
        let until = min(away.pending == nil ? away.nextAttempt : away.until, deadline ?? .max)
        let wait = Int64(until > now ? until - now : 0)
        let ready: (first: Bool, second: Bool)
        switch (away.pending, old.doorbell) {
        case let (pending?, bell?): ready = Poll.readable(pending, bell, timeoutNanoseconds: wait)
        case let (pending?, nil): ready = (Poll.readable(pending, timeoutNanoseconds: wait), false)
        case let (nil, bell?): ready = (false, Poll.readable(bell, timeoutNanoseconds: wait))
        case (nil, nil):
            if wait > 0 { usleep(UInt32(min(wait / 1000, 1_000_000))) }
            ready = (false, false)
        }
        if ready.second { old.doorbell?.drainReadable() }
        if ready.first, let pending = away.pending { finishReconnect(pending, after: old) }
    }

    /// The Welcome has come (or the attempt failed: the next one is due at `nextAttempt`). The
    /// frames published after the last one this client saw and before the new session began
    /// are reported as one drop.
    private func finishReconnect(_ pending: FileDescriptor, after old: Connection) {
        guard let fresh = try? Connection(welcomeOn: pending, generation: old.generation + 1) else {
            pending.close()
            state.withLock { s in s.away?.pending = nil }
            return
        }
        // The same ring (a driver's, adopted by the new daemon): the frames this client took
        // from it while away are not new. Another ring numbers frames from 1 again.
        let sameRing = fresh.ring.inode != 0 && fresh.ring.inode == old.ring.inode
        state.withLock { s in
            let lastSeen = s.statistics.lastSequence
            let head = sameRing ? max(fresh.welcome.headSequence, lastSeen) : fresh.welcome.headSequence
            s.connection = fresh
            s.away = nil
            s.holds = SelfServeHolds() // a new session has its own holds page
            if let page = fresh.holds { s.holds.prepare(limit: min(page.limit, Int(fresh.welcome.maxLeases)), head: head, page: page) }
            s.newestTaken = head
            s.statistics.reconnects += 1
            if lastSeen > 0 && head > lastSeen {
                s.statistics.dropped += head - lastSeen
                s.inbox.append(.dropped(Dropped(firstSequence: lastSeen + 1, count: head - lastSeen, reason: .reconnect,
                                                clientTotal: s.statistics.dropped)))
            }
            // A daemon that made a new ring (synthetic streams) numbers frames from 1 again.
            s.statistics.lastSequence = head
            s.inbox.append(.reconnected(headSequence: head))
        }
        old.close() // the old mapping lives on in the frames that hold it
    }
}
