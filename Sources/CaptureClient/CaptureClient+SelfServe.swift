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

    /// Also tells the device how far this client has looked: it may stay quiet until
    /// `examined` reaches the frame it last rang for (PROTOCOL.md §5.2).
    mutating func prepare(limit: Int, head: UInt64, page: HoldsPage) {
        page.examined = head
        free = Array((0..<limit).reversed())
        entryOf.reserveCapacity(limit)
        examined = head
        prepared = true
    }

    mutating func release(_ sequence: UInt64, in page: HoldsPage) {
        guard let i = entryOf.removeValue(forKey: sequence) else { return }
        page.free(i)
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
        // `examined` (stored by the last look), then the head: the device stores the head, then
        // reads `examined` to decide whether to ring (PROTOCOL.md §5.2); one sees the other.
        capture_fence_seq_cst()
        let (head, headSlot) = ring.head
        return state.withLock { s -> Bool in
            if !s.holds.prepared { s.holds.prepare(limit: min(page.limit, Int(current.welcome.maxLeases)), head: current.welcome.headSequence, page: page) }
            guard head > s.holds.examined else { return false }
            let newest = headSlot < ring.geometry.slotCount ? ring.descriptor(headSlot).snapshot() : nil
            if head == s.holds.examined + 1, let newest, !newest.isBeingFilled, newest.sequence == head {
                // One new frame, where the head says: the path of a client that keeps up.
                let event = Self.hold(head, slot: headSlot, seen: newest, page: page, current: current, holds: &s.holds)
                Self.queue(event, page: page, state: &s)
                Self.markLooked(through: head, page: page, state: &s)
                return true
            }
            // More than one: every descriptor newer than the last look, oldest first.
            var found: [(sequence: UInt64, slot: Int, snapshot: SlotDescriptor.Snapshot)] = []
            for slot in 0..<ring.geometry.slotCount {
                let snap = ring.descriptor(slot).snapshot()
                if !snap.isBeingFilled && snap.sequence > s.holds.examined && snap.sequence <= head {
                    found.append((snap.sequence, slot, snap))
                }
            }
            found.sort { $0.sequence < $1.sequence }
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
            // One at a time: a frame the device got to first gives its entry back to the next one,
            // so only the lease limit, not an earlier loss, makes a lease_limit drop.
            for f in found {
                if f.sequence > next { missing(upTo: f.sequence) }
                next = f.sequence + 1
                events.append(Self.hold(f.sequence, slot: f.slot, seen: f.snapshot, page: page, current: current, holds: &s.holds))
            }
            if next <= head { missing(upTo: head + 1) }
            for event in events { Self.queue(event, page: page, state: &s) }
            Self.markLooked(through: head, page: page, state: &s)
            return !events.isEmpty
        }
    }

    /// Holds frame `sequence`, seen in `slot` as `seen`: claims a free entry of the page,
    /// fences, then checks that the frame is still in its slot (§5.2). The frame, or why it
    /// could not be held (no free entry; the device got there first: its entry freed again).
    private static func hold(_ sequence: UInt64, slot: Int, seen: SlotDescriptor.Snapshot, page: HoldsPage,
                             current: Connection, holds: inout SelfServeHolds) -> CaptureEvent {
        guard let entry = holds.free.popLast() else {
            return .dropped(Dropped(firstSequence: sequence, count: 1, reason: .leaseLimit, clientTotal: 0))
        }
        page.claim(entry, sequence)
        capture_fence_seq_cst() // the hold, then the look
        let ring = current.ring
        let descriptor = ring.descriptor(slot)
        var now = descriptor.snapshot()
        // The device may be looking at this slot right now; it puts the generation back if it
        // sees our hold.
        if now.generation == seen.generation + 1 {
            _ = descriptor.awaitDecision(after: seen.generation)
            now = descriptor.snapshot()
        }
        guard now.generation == seen.generation && now.sequence == sequence else {
            page.free(entry)
            holds.free.append(entry)
            return .dropped(Dropped(firstSequence: sequence, count: 1, reason: .recycled, clientTotal: 0))
        }
        holds.entryOf[sequence] = entry
        return .frame(Frame(sequence: sequence, slot: UInt32(slot), snapshot: now, isLeased: true, ring: ring,
                            session: current.generation, holds: page))
    }

    /// Counts one event and queues it for the caller.
    private static func queue(_ event: CaptureEvent, page: HoldsPage, state s: inout State) {
        var event = event
        if case .dropped(var d) = event {
            s.statistics.dropped &+= d.count
            if d.reason == .recycled { page.recycled &+= d.count }
            d.clientTotal = s.statistics.dropped
            event = .dropped(d)
        } else {
            s.statistics.frames += 1
        }
        s.inbox.append(event)
    }

    /// Marks everything through `head` looked at. The page's `examined`, which the device
    /// reads, waits for `publishExamined` (§5.2). Once per look.
    private static func markLooked(through head: UInt64, page: HoldsPage, state s: inout State) {
        s.holds.examined = head
        s.statistics.lastSequence = max(s.statistics.lastSequence, head)
    }

    /// Tells the device how far this client has looked, right before it reads the head one last
    /// time and sleeps: the device rings only a client whose `examined` reached the frame it last
    /// rang for, so a client that stays awake is not rung (a write less per frame).
    func publishExamined(to current: Connection) {
        guard let page = current.holds else { return }
        state.withLock { s in if s.holds.prepared { page.examined = s.holds.examined } }
    }
}
