import CaptureConfig
import CaptureDevice
import CaptureProtocol
import CaptureRing
import CaptureSystem
import DequeModule
import Logging

/// One stream: its ring, its device, the slot state machine, the leases and the doorbells
/// (docs/ARCHITECTURE.md, "Frame ownership").
///
///     free ──queue──▶ queued (device's) ──completion──▶ published ──requeue──▶ queued
///
/// The device gets every slot that no client holds (or `queue_depth` of them when configured),
/// oldest frame first, so it has the whole ring's slack when the daemon is late: a queued slot
/// keeps its frame readable until the device starts to overwrite it. A published slot goes back
/// to the device unless a client holds it. When every slot is held the device runs short and
/// the frames it loses are counted and reported to every client of the stream.
final class StreamEngine {
    enum SlotState { case free, queued, published }

    let config: Configuration.Stream
    let ring: Ring
    let device: CaptureDevice
    let logger: Logger

    private var state: [SlotState]
    /// The one record of who holds which frame.
    private var leases: LeaseTable
    /// Published slots, oldest first.
    private var published = Deque<UInt32>()
    private var free: [UInt32]
    private var queued = 0
    /// Set by stop(): slots given back afterwards stay out of the device's queue.
    private var stopped = false
    /// Doorbells of this stream's clients, by client id (made by the device, removed on detach).
    private var doorbells: [UInt32: Doorbell] = [:]
    /// Set when the device recycles its own slots (it can, and no queue_depth is configured):
    /// the engine queues every slot once at start and never again; a lease is a hold the device
    /// sees here, and self-serve clients register their holds pages here (PROTOCOL.md §5.2).
    let recycling: SlotHolds?

    private(set) var clients: [ClientSession] = []
    /// Whether the daemon's epoll watches the device's completions (Daemon+EventLoop rule 7).
    var completionsWatched = true
    /// A client waits for the daemon to hear of each frame: it is told by Frames messages.
    var wantsEveryCompletion: Bool {
        recycling == nil || clients.contains { !$0.closing && ($0.mode == .latest ? doorbells[$0.id] == nil : $0.holds == nil) }
    }
    private(set) var lastSequence: UInt64 = 0
    private(set) var frames: UInt64 = 0
    private(set) var deviceDrops: UInt64 = 0
    private(set) var clientDrops: UInt64 = 0
    private(set) var measuredRate: Double = 0
    private var rateWindow: (at: UInt64, frames: UInt64) = (0, 0)
    private var lastDropLog: UInt64 = 0
    /// When this stream was taken over from a previous daemon (until its clients' grace ends).
    private var adoptedAt: UInt64?
    /// The daemon is exiting and the device goes on (stop(handOver:)).
    private var handingOver = false

    init(config: Configuration.Stream, ring: Ring, device: CaptureDevice, logger: Logger) {
        self.config = config
        self.ring = ring
        self.device = device
        self.logger = logger
        let n = ring.geometry.slotCount
        state = Array(repeating: .free, count: n)
        if config.queueDepth == nil, let d = device as? RecyclingDevice, d.mayRecycle, let holds = d.holds {
            d.recycleSlots()
            recycling = holds
        } else {
            recycling = nil
        }
        leases = LeaseTable(slotCount: n, mirror: recycling)
        free = (0..<UInt32(n)).reversed()
    }

    /// A stream taken over from a previous daemon: slots the device still holds (queued,
    /// filling, or completed but unread) stay queued; the others are published when their
    /// descriptor holds a stable frame, else free.
    convenience init(config: Configuration.Stream, ring: Ring, device: CaptureDevice, logger: Logger, deviceSlots: [UInt8]) {
        self.init(config: config, ring: ring, device: device, logger: logger)
        // The previous daemon's message leases went with its clients; its self-serve clients'
        // holds pages stay honoured by the driver for their grace (dropPredecessorsIfDue).
        recycling?.clearDaemonHolds()
        adoptedAt = monotonicNanoseconds()
        free = []
        var stable: [(UInt64, UInt32)] = []
        for slot in 0..<ring.geometry.slotCount {
            if deviceSlots[slot] != 0 {
                state[slot] = .queued
                queued += 1
                continue
            }
            let snap = ring.descriptor(slot).snapshot()
            if !snap.isBeingFilled && snap.sequence > 0 {
                stable.append((snap.sequence, UInt32(slot)))
            } else {
                free.append(UInt32(slot))
            }
        }
        for (sequence, slot) in stable.sorted(by: { $0.0 < $1.0 }) {
            state[Int(slot)] = .published
            published.append(slot)
            lastSequence = sequence
        }
        // A recycling device holds every slot: the ring head says where the frames are.
        lastSequence = max(lastSequence, RingHead.sequence(ringBase: ring.mapping.base))
        logger.info("stream taken over from the previous daemon", metadata: [
            "stream": "\(config.name)", "queued_at_device": "\(queued)", "published": "\(published.count)",
            "free": "\(free.count)", "head_seq": "\(lastSequence)"])
    }

    var slotsLeased: Int {
        leases.slotsHeld + clients.reduce(0) { $0 + ($1.holds != nil ? leasesHeld(by: $1) : 0) }
    }
    var slotsQueued: Int { recycling != nil ? ring.geometry.slotCount - slotsLeased : queued }
    func leaseCount(of client: ClientSession) -> Int { leasesHeld(by: client) }
    func hasDoorbell(_ client: ClientSession) -> Bool { doorbells[client.id] != nil }

    func start() throws {
        try refill()
        try device.start()
        rateWindow = (monotonicNanoseconds(), 0)
    }

    /// Gives the device every slot no client holds (at most `queue_depth` when set): free ones
    /// first, then published ones, oldest first.
    func refill() throws {
        guard !stopped else { return }
        if recycling != nil {
            // Once, at start: every slot; the device keeps them circulating from then on.
            if !free.isEmpty {
                let all = Array(free.reversed())
                free = []
                for slot in all { state[Int(slot)] = .queued }
                try device.queue(all)
            }
            return
        }
        let depth = config.queueDepth ?? state.count
        var batch: [UInt32] = []
        while queued + batch.count < depth {
            guard let slot = takeSlot() else { break }
            state[Int(slot)] = .queued
            batch.append(slot)
        }
        if !batch.isEmpty {
            try device.queue(batch)
            queued += batch.count
        }
    }

    private func takeSlot() -> UInt32? {
        if let slot = free.popLast() { return slot }
        if let index = published.firstIndex(where: { !leases.isHeld($0) }) {
            return published.remove(at: index)
        }
        return nil
    }

    /// Drains the device, publishes every completed frame and offers it to each client.
    /// Cheap when nothing completed, so the event loop calls it between other work too.
    func handleCompletions(now: UInt64) throws {
        let completions = try device.readCompletions()
        guard !completions.isEmpty else { return }
        // What each self-serve client holds, read from its page once per batch, not per frame:
        // the batch is up to `collectInterval` of frames, and the count only feeds status.
        var selfServeHeld: [UInt32: Int] = [:]
        if recycling != nil {
            for client in clients where client.holds != nil && !client.closing { selfServeHeld[client.id] = leasesHeld(by: client) }
        }
        for c in completions where recycling != nil {
            // The device recycles: slots are its own; the daemon announces, leases and counts.
            guard Int(c.slot) < state.count else { continue }
            if lastSequence > 0 && c.sequence > lastSequence + 1 {
                // Frames the device logged as never captured are overruns; the others it did
                // capture, while the daemon was late to collect their records (stopped,
                // restarting, or not watching): no client missed them for that, but a message
                // client was not told of them in time.
                let first = lastSequence + 1, count = c.sequence - lastSequence - 1
                let overruns = RingGaps.missed(ringBase: ring.mapping.base, first: first, count: count)
                frames += count - overruns
                reportDeviceDrop(first: first, count: count, overruns: overruns, now: now)
            }
            lastSequence = max(lastSequence, c.sequence)
            frames += 1
            let entry = FrameEntry(slot: c.slot, sequence: c.sequence)
            for client in clients where !client.closing { offer(entry, to: client, now: now, selfServeHeld: selfServeHeld[client.id]) }
        }
        if recycling != nil { return }
        for c in completions {
            let slot = Int(c.slot)
            guard slot < state.count, state[slot] == .queued else {
                logger.error("device completed a slot it did not own; ignored", metadata: ["stream": "\(config.name)", "slot": "\(c.slot)"])
                continue
            }
            queued -= 1
            if lastSequence > 0 && c.sequence > lastSequence + 1 {
                reportDeviceDrop(first: lastSequence + 1, count: c.sequence - lastSequence - 1, now: now)
            }
            lastSequence = max(lastSequence, c.sequence)
            state[slot] = .published
            published.append(UInt32(slot))
            frames += 1
            let entry = FrameEntry(slot: UInt32(slot), sequence: c.sequence)
            for client in clients where !client.closing { offer(entry, to: client, now: now) }
        }
        try refill()
    }

    /// `selfServeHeld`: the leases a self-serve client held when the batch was collected.
    private func offer(_ entry: FrameEntry, to client: ClientSession, now: UInt64, selfServeHeld: Int? = nil) {
        if client.mode == .latest {
            if doorbells[client.id] != nil {
                client.lastNotified = entry.sequence // the device rang its doorbell already
            } else {
                client.enqueue(frame: entry)
            }
            return
        }
        if client.holds != nil {
            // It takes its own leases; the device rang its doorbell. Counted for status only.
            client.lastNotified = entry.sequence
            let room = (selfServeHeld ?? leasesHeld(by: client)) < client.maxLeases
            if !room { clientDrops += 1 }
            client.count(offered: room)
            return
        }
        if leases.count(of: client.id) >= client.maxLeases {
            clientDrops += 1
            client.enqueue(drop: entry.sequence, count: 1, reason: .leaseLimit)
            return
        }
        leases.grant(entry, to: client.id, at: now)
        if recycling != nil {
            // The hold is in; is the frame still there? The device may have reused the slot
            // before the daemon got to it (it was late by a ring's worth of frames).
            let descriptor = ring.descriptor(Int(entry.slot))
            var snap = descriptor.snapshot()
            if snap.isBeingFilled && snap.sequence == entry.sequence {
                // The device's mark: it gives the slot back when it sees the hold, within
                // nanoseconds unless it lost its CPU. A short spin, never a wait in this loop;
                // a mark that stands is a drop, never a frame that may be overwritten.
                _ = descriptor.awaitDecision(after: snap.generation - 1, spinOnly: true)
                snap = descriptor.snapshot()
            }
            if snap.isBeingFilled || snap.sequence != entry.sequence {
                _ = leases.release(entry, by: client.id)
                clientDrops += 1
                client.enqueue(drop: entry.sequence, count: 1, reason: client.selfServe ? .recycled : .deviceOverrun)
                return
            }
        }
        client.enqueue(frame: entry)
    }

    /// Frames `first ..< first + count` never reached this daemon: `overruns` of them the device
    /// never captured (all, unless it recycles), the rest it captured while the daemon was late
    /// to collect them. Message clients are told of the whole run; self-serve clients read the
    /// device's gap log themselves (PROTOCOL.md §5.1), a doorbell client the ring head.
    private func reportDeviceDrop(first: UInt64, count: UInt64, overruns: UInt64? = nil, now: UInt64) {
        let overruns = overruns ?? count
        deviceDrops += overruns
        for client in clients where !client.closing {
            if client.holds != nil {
                if overruns > 0 { client.count(offered: false, dropped: overruns) }
            } else if overruns == count {
                client.enqueue(drop: first, count: count, reason: .deviceOverrun)
            } else if !(client.mode == .latest && doorbells[client.id] != nil) {
                clientDrops += count - overruns
                client.enqueue(drop: first, count: count, reason: client.selfServe ? .recycled : .deviceOverrun)
            }
        }
        guard overruns > 0 else { return }
        // Rate-limited: one line a second at most; the counters hold the totals.
        if now - lastDropLog > 1_000_000_000 {
            lastDropLog = now
            logger.warning("frames dropped: the device had no slot to fill", metadata: [
                "message_id": "\(MessageID.framesDropped)", "stream": "\(config.name)", "first_seq": "\(first)", "count": "\(overruns)",
                "total": "\(deviceDrops)", "slots_held": "\(leases.slotsHeld)"])
        }
    }

    /// Gives leased frames back; returns how many of them this client did not hold.
    func release(_ entries: [FrameEntry], by client: ClientSession) throws -> Int {
        var notLeased = 0
        for e in entries where !leases.release(e, by: client.id) { notLeased += 1 }
        try refill()
        return notLeased
    }

    /// Takes back leases older than `timeout`; the client is told which. Returns how many.
    func revokeExpiredLeases(of client: ClientSession, now: UInt64, timeout: UInt64) -> Int {
        let revoked = leases.revokeExpired(of: client.id, now: now, timeout: timeout)
        for entry in revoked { client.enqueue(revoked: entry) }
        if !revoked.isEmpty { try? refill() }
        return revoked.count
    }

    /// A client joins. With `doorbell`, asks the device for one; returns the descriptor the
    /// client gets with its Welcome (nil: no doorbell, the client gets Frames messages). A
    /// `selfServe` lease client of a recycling device gets a doorbell and a holds page, its
    /// entries honoured up to its lease limit: it takes its own leases.
    func attach(_ client: ClientSession, doorbell: Bool, selfServe: Bool = false) -> (bell: FileDescriptor?, holds: FileDescriptor?) {
        clients.append(client)
        client.lastNotified = lastSequence
        client.selfServe = selfServe
        let selfServing = selfServe && client.mode == .lease && recycling != nil
        guard doorbell || selfServing else { return (nil, nil) }
        // The page first: the device looks at how far its reader has read before it rings.
        var holds: (page: HoldsPage, id: UInt32, fd: FileDescriptor)?
        if selfServing, let recycling, let page = try? HoldsPage.create(limit: client.maxLeases, name: "capture-holds-\(config.name)-\(client.id)"),
           let fd = try? page.memfd.duplicate(), let id = try? recycling.add(page, limit: client.maxLeases) {
            holds = (page, id, fd)
        }
        guard let bell = try? device.makeDoorbell(reader: holds?.page) else {
            if let holds { recycling?.remove(holds.id) }
            return (nil, nil)
        }
        doorbells[client.id] = bell
        guard let holds else { return (bell.clientEnd, nil) }
        client.holds = (holds.page, holds.id)
        return (bell.clientEnd, holds.fd)
    }

    /// Self-serve clients: holds older than `timeout` are revoked (the device stops honouring
    /// them) and the client told. Returns how many.
    func revokeExpiredHolds(of client: ClientSession, now: UInt64, timeout: UInt64) -> Int {
        guard let (page, id) = client.holds, let recycling else { return 0 }
        let voided = recycling.voided(id)
        let held = Set(page.heldSequences(limit: client.maxLeases).filter { $0 >= voided })
        client.holdsSeenAt = client.holdsSeenAt.filter { held.contains($0.key) }
        for q in held where client.holdsSeenAt[q] == nil { client.holdsSeenAt[q] = now }
        let expired = client.holdsSeenAt.filter { now - $0.value > timeout }.keys.sorted()
        guard let newest = expired.last else { return 0 }
        recycling.revoke(id, below: newest + 1)
        for q in held.sorted() where q <= newest {
            client.holdsSeenAt[q] = nil
            client.enqueue(revoked: FrameEntry(slot: slot(of: q) ?? UInt32.max, sequence: q))
        }
        return expired.count
    }

    /// The slot holding frame `sequence`, if it is still in the ring.
    private func slot(of sequence: UInt64) -> UInt32? {
        (0..<ring.geometry.slotCount).first { ring.descriptor($0).snapshot().sequence == sequence }.map { UInt32($0) }
    }

    /// Leases a client holds: the daemon's, or a self-serve client's own.
    func leasesHeld(by client: ClientSession) -> Int {
        guard let (page, id) = client.holds, let recycling else { return leases.count(of: client.id) }
        let voided = recycling.voided(id)
        return page.heldSequences(limit: client.maxLeases).filter { $0 >= voided }.count
    }

    /// A client left: everything it held comes back at once, and its doorbell goes. Returns how
    /// many leases it held.
    @discardableResult
    func detach(_ client: ClientSession) -> Int {
        if handingOver {
            // The device goes on for the next daemon: what the client holds stays held.
            clients.removeAll { $0 === client }
            return 0
        }
        if let bell = doorbells.removeValue(forKey: client.id) {
            device.removeDoorbell(bell) // the device no longer rings it; it closes with the last reference
        }
        var held = leases.releaseAll(of: client.id)
        if let (_, id) = client.holds {
            held += leasesHeld(by: client)
            recycling?.remove(id) // the device no longer honours its page; everything comes back at once
            client.holds = nil
        }
        clients.removeAll { $0 === client }
        if held > 0 { try? refill() }
        return held
    }

    /// The previous daemon's doorbells and holds pages go once its clients have had
    /// `grace` to reconnect (the lease timeout): frames flow to them meanwhile.
    func dropPredecessorsIfDue(now: UInt64, grace: UInt64) {
        guard let at = adoptedAt, now - at >= grace else { return }
        adoptedAt = nil
        (device as? KernelDevice)?.dropPredecessors()
    }

    func tick(now: UInt64) {
        let elapsed = now - rateWindow.at
        if elapsed >= 1_000_000_000 {
            measuredRate = Double(frames - rateWindow.frames) * 1e9 / Double(elapsed)
            rateWindow = (now, frames)
        }
    }

    /// The device writes nothing after this returns, not even into slots clients give back
    /// later: frames they still map stay what they were (a daemon that stops says Goodbye
    /// after this).
    ///
    /// With `handOver` (the daemon is exiting), a device that outlives the daemon and recycles its
    /// slots keeps capturing instead: a restarted daemon adopts it, and the clients keep their
    /// doorbells, holds and leases until it retires them after their grace (PROTOCOL.md §5.2).
    func stop(handOver: Bool = false) {
        stopped = true
        handingOver = handOver && recycling != nil && (device as? RecyclingDevice)?.outlivesDaemon == true
        if !handingOver { device.stop() }
    }

    func close() {
        device.close()
        ring.close()
    }
}
