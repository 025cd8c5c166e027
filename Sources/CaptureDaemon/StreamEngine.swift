import CaptureConfig
import CaptureDevice
import CaptureProtocol
import CaptureRing
import CaptureSystem
import DequeModule
import Logging

/// One stream: its ring, its device and the slot state machine (DESIGN.md, "Frame ownership").
///
///     free ──queue──▶ queued (device owns it) ──completion──▶ published ──reclaim──▶ queued
///
/// Only free or reclaimed slots go to the device; the device never waits on a client. A slot
/// is reclaimed when it is the oldest published slot that no client leases. When every
/// published slot is leased the device runs short and the frames it loses are counted and
/// reported to every client of the stream.
final class StreamEngine {
    enum SlotState { case free, queued, published }

    let config: Configuration.Stream
    let ring: Ring
    let device: CaptureDevice
    let logger: Logger

    private(set) var state: [SlotState]
    private(set) var leaseCount: [Int]
    /// Published slots, oldest first.
    private var published = Deque<UInt32>()
    private var free: [UInt32]
    private var queued = 0

    var clients: [ClientSession] = []
    private(set) var lastSequence: UInt64 = 0
    private(set) var frames: UInt64 = 0
    private(set) var deviceDrops: UInt64 = 0
    private(set) var clientDrops: UInt64 = 0
    private(set) var measuredRate: Double = 0
    private var rateWindow: (at: UInt64, frames: UInt64) = (0, 0)
    private var lastDropLog: UInt64 = 0

    init(config: Configuration.Stream, ring: Ring, device: CaptureDevice, logger: Logger) {
        self.config = config
        self.ring = ring
        self.device = device
        self.logger = logger
        let n = ring.geometry.slotCount
        state = Array(repeating: .free, count: n)
        leaseCount = Array(repeating: 0, count: n)
        free = (0..<UInt32(n)).reversed()
    }

    /// A stream taken over from a previous daemon: slots the device still holds (queued,
    /// filling, or completed but unread) stay queued; the others are published when their
    /// descriptor holds a stable frame, else free.
    convenience init(config: Configuration.Stream, ring: Ring, device: CaptureDevice, logger: Logger, deviceSlots: [UInt8]) {
        self.init(config: config, ring: ring, device: device, logger: logger)
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
        logger.info("stream taken over from the previous daemon", metadata: [
            "stream": "\(config.name)", "queued_at_device": "\(queued)", "published": "\(published.count)",
            "free": "\(free.count)", "head_seq": "\(lastSequence)"])
    }

    var slotsLeased: Int { leaseCount.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }

    func start() throws {
        try refill()
        try device.start()
        rateWindow = (monotonicNanoseconds(), 0)
    }

    /// Keeps `queueDepth` slots at the device: free ones first, then the oldest unleased
    /// published one. (The device turns its generation odd before it touches it.)
    func refill() throws {
        var batch: [UInt32] = []
        while queued + batch.count < config.queueDepth {
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
        if let index = published.firstIndex(where: { leaseCount[Int($0)] == 0 }) {
            return published.remove(at: index)
        }
        return nil
    }

    /// Drains the device, publishes every completed frame and offers it to each client.
    func handleCompletions(now: UInt64) throws {
        let completions = try device.readCompletions()
        guard !completions.isEmpty else { return }
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

    private func offer(_ entry: FrameEntry, to client: ClientSession, now: UInt64) {
        if client.mode == .latest {
            if client.doorbell != nil {
                client.lastNotified = entry.sequence // the device rang its doorbell already
            } else {
                client.enqueue(frame: entry)
            }
            return
        }
        if client.leases.count >= client.maxLeases {
            clientDrops += 1
            client.enqueue(drop: entry.sequence, count: 1, reason: .leaseLimit)
            return
        }
        client.leases[entry.slot] = ClientSession.Lease(sequence: entry.sequence, grantedAt: now)
        leaseCount[Int(entry.slot)] += 1
        client.enqueue(frame: entry)
    }

    private func reportDeviceDrop(first: UInt64, count: UInt64, now: UInt64) {
        deviceDrops += count
        for client in clients where !client.closing { client.enqueue(drop: first, count: count, reason: .deviceOverrun) }
        // Rate-limited: one line a second at most; the counters hold the totals.
        if now - lastDropLog > 1_000_000_000 {
            lastDropLog = now
            logger.warning("frames dropped: no free slot at the device", metadata: [
                "message_id": "\(MessageID.framesDropped)", "stream": "\(config.name)", "first_seq": "\(first)", "count": "\(count)", "total": "\(deviceDrops)"])
        }
    }

    enum ReleaseResult { case released, notLeased }

    func release(_ entry: FrameEntry, by client: ClientSession) -> ReleaseResult {
        guard let lease = client.leases[entry.slot], lease.sequence == entry.sequence else { return .notLeased }
        client.leases[entry.slot] = nil
        leaseCount[Int(entry.slot)] -= 1
        return .released
    }

    /// Takes back leases older than `timeout`; the client is told which.
    func revokeExpiredLeases(of client: ClientSession, now: UInt64, timeout: UInt64) -> Int {
        var count = 0
        let expired = client.leases.filter { now - $0.value.grantedAt > timeout }.sorted { $0.value.sequence < $1.value.sequence }
        for (slot, lease) in expired {
            client.leases[slot] = nil
            leaseCount[Int(slot)] -= 1
            client.revoked += 1
            client.outbox.append(.leaseRevoked(FrameEntry(slot: slot, sequence: lease.sequence)))
            count += 1
        }
        return count
    }

    func attach(_ client: ClientSession) { clients.append(client) }

    /// A client left: everything it held comes back at once.
    func detach(_ client: ClientSession) {
        if let bell = client.doorbell {
            device.removeDoorbell(bell.fd.raw)
            client.doorbell = nil // closes it: the device no longer rings it
        }
        for slot in client.leases.keys { leaseCount[Int(slot)] -= 1 }
        client.leases.removeAll()
        clients.removeAll { $0 === client }
    }

    func tick(now: UInt64) {
        let elapsed = now - rateWindow.at
        if elapsed >= 1_000_000_000 {
            measuredRate = Double(frames - rateWindow.frames) * 1e9 / Double(elapsed)
            rateWindow = (now, frames)
        }
    }

    func stop() {
        device.stop()
    }

    func close() {
        device.close()
        ring.close()
    }
}
