#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import CCaptureShim

/// A self-serve lease client's holds (struct capture_holds, PROTOCOL.md §5.2): one page of its
/// own memfd. The client writes entries (the sequences it holds); the device reads them before
/// it reuses a slot and honours the first `limit`; the daemon reads them for lease timeouts and
/// status. A hold is taken with a sequentially consistent store followed by a check of the
/// slot's descriptor, and the device marks a slot before it checks the holds: one of the two
/// always sees the other.
public final class HoldsPage: Sendable {
    public let memfd: FileDescriptor
    public let mapping: Mapping

    /// A new page (the daemon): memfd, sealed at its size, mapped read-write, with the magic and
    /// the limit written.
    public static func create(limit: Int, name: String) throws -> HoldsPage {
        let fd = try Memfd.create(name: name, hugePage: nil)
        try Memfd.setSize(fd, bytes: RingLayout.Holds.bytes)
        try Memfd.addSeals(fd, [.shrink, .grow, .seal])
        let page = try HoldsPage(memfd: fd)
        (page.mapping.base + RingLayout.Holds.limit).storeBytes(of: UInt32(limit).littleEndian, as: UInt32.self)
        capture_store_release_u64(page.mapping.base + RingLayout.Holds.magic, RingLayout.Holds.magicValue)
        return page
    }

    /// Maps a page read-write (the client, with the memfd from its Welcome).
    public init(memfd: FileDescriptor) throws {
        guard try memfd.size() == UInt64(RingLayout.Holds.bytes) else {
            throw SystemError("fstat(holds)", errno: EINVAL, hint: "a holds page is \(RingLayout.Holds.bytes) bytes")
        }
        self.memfd = memfd
        mapping = try Mapping(sharing: memfd, length: RingLayout.Holds.bytes, protection: [.read, .write])
    }

    public var isValid: Bool { capture_load_acquire_u64(mapping.base + RingLayout.Holds.magic) == RingLayout.Holds.magicValue }
    /// The limit the daemon wrote (the device keeps its own copy; this is for the client).
    public var limit: Int { min(Int(UInt32(littleEndian: (mapping.base + RingLayout.Holds.limit).load(as: UInt32.self))), RingLayout.Holds.entries) }

    private func entry(_ i: Int) -> UnsafeMutableRawPointer { mapping.base + RingLayout.Holds.held + i * 8 }

    /// Entry `i` (0: free).
    public func held(_ i: Int) -> UInt64 { capture_load_seq_cst_u64(entry(i)) }
    /// Takes entry `i` for `sequence`, or frees it (0); sequentially consistent.
    public func set(_ i: Int, _ sequence: UInt64) { capture_store_seq_cst_u64(entry(i), sequence) }
    /// Takes entry `i` for `sequence` with a plain store; follow it with a sequentially
    /// consistent fence before looking at the slot (PROTOCOL.md §5.2).
    public func claim(_ i: Int, _ sequence: UInt64) { capture_store_relaxed_u64(entry(i), sequence) }
    /// Frees entry `i` (release: the frame was read before).
    public func free(_ i: Int) { capture_store_release_u64(entry(i), 0) }

    /// Frees the entry that holds `sequence`, if one does.
    public func clear(_ sequence: UInt64) {
        for i in 0..<RingLayout.Holds.entries where held(i) == sequence { set(i, 0) }
    }

    /// Whether one of the first `limit` entries holds `sequence` (the device, the daemon).
    public func holds(_ sequence: UInt64, limit: Int) -> Bool {
        for i in 0..<min(limit, RingLayout.Holds.entries) where capture_load_seq_cst_u64(entry(i)) == sequence { return true }
        return false
    }

    /// The sequences held in the first `limit` entries.
    public func heldSequences(limit: Int) -> [UInt64] {
        (0..<min(limit, RingLayout.Holds.entries)).map { capture_load_seq_cst_u64(entry($0)) }.filter { $0 != 0 }
    }

    public var examined: UInt64 {
        get { capture_load_relaxed_u64(mapping.base + RingLayout.Holds.examined) }
        set { capture_store_relaxed_u64(mapping.base + RingLayout.Holds.examined, newValue) }
    }
    /// Frames whose slots the device reused before the client could hold them (client-written).
    public var recycled: UInt64 {
        get { capture_load_relaxed_u64(mapping.base + RingLayout.Holds.recycled) }
        set { capture_store_relaxed_u64(mapping.base + RingLayout.Holds.recycled, newValue) }
    }
}
