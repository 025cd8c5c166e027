import CaptureRing
import CaptureSystem
import CCaptureShim
import Synchronization

/// Who holds frames on a device that recycles its own slots (PROTOCOL.md §5.2): the daemon, in
/// each slot descriptor's `holds` word, for the leases it grants message clients; and each
/// self-serve lease client, in its own HoldsPage. The device checks both before it reuses a
/// slot, after marking the slot (generation odd) — a holder stores its hold before it checks
/// the slot, so one of the two always sees the other.
public final class SlotHolds: @unchecked Sendable {
    /// The ring's descriptors, through the device's read-write mapping (kept alive here).
    private let mapping: Mapping
    private let geometry: RingGeometry
    public var slotCount: Int { geometry.slotCount }

    public struct Holder: Sendable {
        public let id: UInt32
        public let page: HoldsPage
        public let limit: Int
    }
    private let holders = Locked<[Holder]>([])
    /// Per holder id: holds on sequences below this are void (revoked by the daemon).
    private let voidBelow = Locked<[UInt32: UInt64]>([:])
    private let nextID = Atomic<UInt32>(1)

    public init(mapping: Mapping, geometry: RingGeometry) {
        self.mapping = mapping
        self.geometry = geometry
    }

    private func word(_ slot: Int) -> UnsafeMutableRawPointer {
        mapping.base + geometry.descriptorOffset(slot) + RingLayout.Descriptor.holds
    }

    // MARK: the daemon's holds

    /// One more lease on `slot`'s frame; sequentially consistent, before the caller checks that
    /// the frame is still there.
    public func hold(_ slot: Int) {
        capture_add_seq_cst_u32(word(slot), 1)
        capture_fence_seq_cst() // before the caller looks at the slot
    }
    public func unhold(_ slot: Int) { capture_add_seq_cst_u32(word(slot), -1) }
    public func daemonHolds(_ slot: Int) -> Bool { capture_load_seq_cst_u32(word(slot)) > 0 }

    /// A ring that outlived a daemon carries its holds: the new daemon starts from none.
    public func clearDaemonHolds() {
        for slot in 0..<slotCount { capture_store_seq_cst_u32(word(slot), 0) }
    }

    // MARK: self-serve clients

    /// Registers a client's page; its first `limit` entries count from now on.
    public func add(_ page: HoldsPage, limit: Int) -> UInt32 {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        holders.withLock { $0.append(Holder(id: id, page: page, limit: min(limit, RingLayout.Holds.entries))) }
        return id
    }

    /// After this returns, the device no longer honours the page (a client that left).
    public func remove(_ id: UInt32) {
        holders.withLock { $0.removeAll { $0.id == id } }
        voidBelow.withLock { $0[id] = nil }
    }

    /// Holds of `id` on sequences below `sequence` are void from now on (lease timeout).
    public func revoke(_ id: UInt32, below sequence: UInt64) {
        voidBelow.withLock { $0[id] = max($0[id] ?? 0, sequence) }
    }

    public func registered() -> [Holder] { holders.withLock { $0 } }
    public func voided(_ id: UInt32) -> UInt64 { voidBelow.withLock { $0[id] ?? 0 } }

    /// Whether anyone holds frame `sequence` in `slot` (the device, before reusing the slot).
    public func isHeld(slot: Int, sequence: UInt64) -> Bool {
        if daemonHolds(slot) { return true }
        guard sequence > 0 else { return false }
        let (list, void) = (holders.withLock { $0 }, voidBelow.withLock { $0 })
        for h in list where sequence >= (void[h.id] ?? 0) && h.page.holds(sequence, limit: h.limit) { return true }
        return false
    }

    /// Slots with a hold (status).
    public var slotsHeldByDaemon: Int { (0..<slotCount).filter { daemonHolds($0) }.count }
}
