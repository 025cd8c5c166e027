import CaptureRing
import CaptureSystem
import CCaptureShim
import Synchronization

/// Where a device that recycles its slots in the kernel learns of holds pages
/// (CAPTURE_IOC_HOLDER); the synthetic device reads SlotHolds' own list instead.
public protocol HolderRegistry: AnyObject, Sendable {
    /// One more (+1) or one less (-1) of the daemon's holds on `slot`'s frame; 0: none on any slot.
    func holdSlot(_ slot: Int, delta: Int32) throws
    func registerHolder(id: UInt32, page: HoldsPage, limit: Int) throws
    func unregisterHolder(id: UInt32)
    func revokeHolder(id: UInt32, below sequence: UInt64)
}

/// Who holds frames on a device that recycles its own slots (PROTOCOL.md §5.2): the daemon, per
/// slot, for the leases it grants message clients; and each self-serve lease client, in its own
/// HoldsPage. The device checks both before it reuses a
/// slot, after marking the slot (generation odd) — a holder stores its hold before it checks
/// the slot, so one of the two always sees the other.
public final class SlotHolds: @unchecked Sendable {
    /// Per slot: how many of the daemon's leases hold its frame (seq_cst atomics). The driver
    /// keeps its own count, told by the registry under its lock.
    private let counters: UnsafeMutablePointer<UInt32>
    public let slotCount: Int

    public struct Holder: Sendable {
        public let id: UInt32
        public let page: HoldsPage
        public let limit: Int
    }
    private struct Registered {
        var holders: [Holder] = []
        /// Per holder id: holds on sequences below this are void (revoked by the daemon).
        var voidBelow: [UInt32: UInt64] = [:]
    }
    /// One lock for both: the device takes it for every slot it considers.
    private let registered = Locked(Registered())
    private let nextID = Atomic<UInt32>(1)
    /// The kernel's copy of the registrations, if the device is there.
    private weak let registry: (any HolderRegistry)?

    public init(slotCount: Int, registry: (any HolderRegistry)? = nil) {
        self.slotCount = slotCount
        self.registry = registry
        counters = .allocate(capacity: slotCount)
        counters.initialize(repeating: 0, count: slotCount)
    }

    deinit { counters.deallocate() }

    // MARK: the daemon's holds

    /// One more lease on `slot`'s frame; sequentially consistent (or under the driver's lock),
    /// before the caller checks that the frame is still there.
    public func hold(_ slot: Int) {
        capture_add_seq_cst_u32(counters + slot, 1)
        capture_fence_seq_cst() // before the caller looks at the slot
        try? registry?.holdSlot(slot, delta: 1)
    }
    public func unhold(_ slot: Int) {
        guard capture_load_seq_cst_u32(counters + slot) > 0 else { return }
        capture_add_seq_cst_u32(counters + slot, -1)
        try? registry?.holdSlot(slot, delta: -1)
    }
    public func daemonHolds(_ slot: Int) -> Bool { capture_load_seq_cst_u32(counters + slot) > 0 }

    /// A device that outlived a daemon may still count its holds: the new daemon starts from none.
    public func clearDaemonHolds() {
        for slot in 0..<slotCount { capture_store_seq_cst_u32(counters + slot, 0) }
        try? registry?.holdSlot(-1, delta: 0)
    }

    // MARK: self-serve clients

    /// Registers a client's page; its first `limit` entries count from now on.
    public func add(_ page: HoldsPage, limit: Int) throws -> UInt32 {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let limit = min(limit, RingLayout.Holds.entries)
        try registry?.registerHolder(id: id, page: page, limit: limit)
        registered.withLock { $0.holders.append(Holder(id: id, page: page, limit: limit)) }
        return id
    }

    /// After this returns, the device no longer honours the page (a client that left).
    public func remove(_ id: UInt32) {
        registry?.unregisterHolder(id: id)
        registered.withLock { r in
            r.holders.removeAll { $0.id == id }
            r.voidBelow[id] = nil
        }
    }

    /// Holds of `id` on sequences below `sequence` are void from now on (lease timeout).
    public func revoke(_ id: UInt32, below sequence: UInt64) {
        registry?.revokeHolder(id: id, below: sequence)
        registered.withLock { $0.voidBelow[id] = max($0.voidBelow[id] ?? 0, sequence) }
    }

    public func voided(_ id: UInt32) -> UInt64 { registered.withLock { $0.voidBelow[id] ?? 0 } }

    /// Whether anyone holds frame `sequence` in `slot` (the device, before reusing the slot).
    public func isHeld(slot: Int, sequence: UInt64) -> Bool {
        if daemonHolds(slot) { return true }
        guard sequence > 0 else { return false }
        return registered.withLock { r in
            for h in r.holders where h.page.holds(sequence, limit: h.limit) && sequence >= (r.voidBelow[h.id] ?? 0) { return true }
            return false
        }
    }
}
