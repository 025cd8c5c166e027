import CaptureDevice
import CaptureProtocol

/// Who holds which frame of one stream: the only record of leases (StreamEngine owns it).
///
/// A slot holds one frame at a time, so a client holds at most one lease per slot; several
/// clients may hold the same frame. A held slot is never given back to the device.
struct LeaseTable {
    struct Lease {
        let sequence: UInt64
        let grantedAt: UInt64
    }

    /// Per slot: how many clients hold its frame.
    private var holders: [Int]
    /// Per client: slot → lease.
    private var byClient: [UInt32: [UInt32: Lease]] = [:]
    /// Slots at least one client holds.
    private(set) var slotsHeld = 0
    /// A device that recycles its own slots sees every lease here as a hold on the slot.
    private let mirror: SlotHolds?

    init(slotCount: Int, mirror: SlotHolds? = nil) {
        holders = Array(repeating: 0, count: slotCount)
        self.mirror = mirror
    }

    func count(of client: UInt32) -> Int { byClient[client]?.count ?? 0 }
    func isHeld(_ slot: UInt32) -> Bool { holders[Int(slot)] > 0 }

    mutating func grant(_ entry: FrameEntry, to client: UInt32, at now: UInt64) {
        byClient[client, default: [:]][entry.slot] = Lease(sequence: entry.sequence, grantedAt: now)
        hold(entry.slot, by: 1)
    }

    /// False when `client` does not hold exactly this frame (never leased, already revoked).
    mutating func release(_ entry: FrameEntry, by client: UInt32) -> Bool {
        guard let lease = byClient[client]?[entry.slot], lease.sequence == entry.sequence else { return false }
        byClient[client]![entry.slot] = nil
        hold(entry.slot, by: -1)
        return true
    }

    /// Takes back the leases `client` has held longer than `timeout`; oldest frame first.
    mutating func revokeExpired(of client: UInt32, now: UInt64, timeout: UInt64) -> [FrameEntry] {
        guard let leases = byClient[client] else { return [] }
        let expired = leases.filter { now - $0.value.grantedAt > timeout }
            .map { FrameEntry(slot: $0.key, sequence: $0.value.sequence) }
            .sorted { $0.sequence < $1.sequence }
        for e in expired {
            byClient[client]![e.slot] = nil
            hold(e.slot, by: -1)
        }
        return expired
    }

    /// Everything `client` held comes back at once; returns how many leases that was.
    mutating func releaseAll(of client: UInt32) -> Int {
        guard let leases = byClient.removeValue(forKey: client) else { return 0 }
        for slot in leases.keys { hold(slot, by: -1) }
        return leases.count
    }

    private mutating func hold(_ slot: UInt32, by delta: Int) {
        if let mirror {
            for _ in 0..<abs(delta) { if delta > 0 { mirror.hold(Int(slot)) } else { mirror.unhold(Int(slot)) } }
        }
        let before = holders[Int(slot)]
        holders[Int(slot)] += delta
        if before == 0 && delta > 0 { slotsHeld += 1 }
        if before > 0 && holders[Int(slot)] == 0 { slotsHeld -= 1 }
    }
}
