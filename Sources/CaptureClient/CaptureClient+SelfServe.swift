import CaptureProtocol
import CaptureRing
import CCaptureShim

/// Which entries of a self-serve client's holds page are in use, and for which frames.
struct SelfServeHolds {
    /// Entry index by the sequence it holds.
    var entryOf: [UInt64: Int] = [:]
    var free: [Int] = []
    var prepared = false
    /// The newest sequence looked at.
    var examined: UInt64 = 0

    mutating func prepare(limit: Int, head: UInt64) {
        guard !prepared else { return }
        free = Array((0..<limit).reversed())
        examined = head
        prepared = true
    }

    mutating func release(_ sequence: UInt64, in page: HoldsPage) {
        guard let i = entryOf.removeValue(forKey: sequence) else { return }
        page.set(i, 0)
        free.append(i)
    }
}

extension CaptureClient {
    /// Self-serve leases (PROTOCOL.md §5.2): takes every frame published since the last look,
    /// oldest first, each held by storing its sequence in a free entry of the holds page and
    /// then checking that the frame is still in its slot (the device marks a slot before it
    /// looks at the holds, so one of the two sees the other). Frames it could not take become
    /// Dropped events with their cause: the device never captured them (the header's gap
    /// log), the lease limit, or the device reused the slot before this client woke.
    /// Appends the events to the inbox; returns whether there were any.
    @discardableResult
    func takeSelfServed(from current: Connection) -> Bool {
        guard let page = current.holds else { return false }
        let ring = current.ring
        let (head, headSlot) = ring.head
        return state.withLock { s -> Bool in
            s.holds.prepare(limit: min(page.limit, Int(current.welcome.maxLeases)), head: current.welcome.headSequence)
            guard head > s.holds.examined else { return false }
            // What the ring holds that is newer than the last look, oldest first: one new frame
            // is where the head says; more take a look at every descriptor.
            var found: [(sequence: UInt64, slot: Int, snapshot: SlotDescriptor.Snapshot)] = []
            let newest = headSlot < ring.geometry.slotCount ? ring.descriptor(headSlot).snapshot() : nil
            if head == s.holds.examined + 1, let newest, !newest.isBeingFilled, newest.sequence == head {
                found.append((head, headSlot, newest))
            } else {
                for slot in 0..<ring.geometry.slotCount {
                    let snap = ring.descriptor(slot).snapshot()
                    if !snap.isBeingFilled && snap.sequence > s.holds.examined && snap.sequence <= head {
                        found.append((snap.sequence, slot, snap))
                    }
                }
                found.sort { $0.sequence < $1.sequence }
            }
            var events: [CaptureEvent] = []
            var next = s.holds.examined + 1
            func missing(upTo end: UInt64) { // sequences next ..< end are not to be had
                var first = next
                while first < end {
                    // Too old for the log to say (nil): the device's, most likely.
                    let overrun = RingGaps.deviceMissed(ringBase: ring.mapping.base, sequence: first) ?? true
                    var last = first
                    while last + 1 < end && (RingGaps.deviceMissed(ringBase: ring.mapping.base, sequence: last + 1) ?? true) == overrun { last += 1 }
                    events.append(.dropped(Dropped(firstSequence: first, count: last - first + 1, reason: overrun ? .deviceOverrun : .recycled, clientTotal: 0)))
                    first = last + 1
                }
            }
            for f in found {
                if f.sequence > next { missing(upTo: f.sequence) }
                next = f.sequence + 1
                guard let entry = s.holds.free.popLast() else {
                    events.append(.dropped(Dropped(firstSequence: f.sequence, count: 1, reason: .leaseLimit, clientTotal: 0)))
                    continue
                }
                page.set(entry, f.sequence)
                capture_fence_seq_cst()
                var now = ring.descriptor(f.slot).snapshot()
                // The device may be looking at this slot right now; it puts the generation back
                // if it sees our hold.
                var spins = 0
                while now.isBeingFilled && now.generation == f.snapshot.generation + 1 && spins < 10_000 {
                    spins += 1
                    now = ring.descriptor(f.slot).snapshot()
                }
                if now.generation == f.snapshot.generation && now.sequence == f.sequence {
                    s.holds.entryOf[f.sequence] = entry
                    events.append(.frame(Frame(sequence: f.sequence, slot: UInt32(f.slot), snapshot: now, isLeased: true, ring: ring,
                                                            session: current.generation, holds: page)))
                } else {
                    page.set(entry, 0)
                    s.holds.free.append(entry)
                    events.append(.dropped(Dropped(firstSequence: f.sequence, count: 1, reason: .recycled, clientTotal: 0)))
                }
            }
            if next <= head { missing(upTo: head + 1) }
            s.holds.examined = head
            page.examined = head
            var dropped: UInt64 = 0, recycled: UInt64 = 0
            for case .dropped(let d) in events {
                dropped += d.count
                if d.reason == .recycled { recycled += d.count }
            }
            page.recycled &+= recycled
            s.statistics.frames += UInt64(events.count) - UInt64(events.filter { if case .dropped = $0 { true } else { false } }.count)
            s.statistics.dropped &+= dropped
            s.statistics.lastSequence = max(s.statistics.lastSequence, head)
            for i in events.indices { if case .dropped(var d) = events[i] { d.clientTotal = s.statistics.dropped; events[i] = .dropped(d) } }
            s.inbox.append(contentsOf: events)
            return !events.isEmpty
        }
    }
}
