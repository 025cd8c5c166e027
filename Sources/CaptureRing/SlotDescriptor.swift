#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// One slot descriptor in shared memory, read and written with the seqlock rule.
///
/// Writer (the device, never the daemon nor a client): `beginFill` makes the generation odd
/// when a slot is queued, before any payload byte may change; `publish` writes the fields and
/// then makes the generation even (release store) when the frame is complete. The kernel
/// driver does the same through its pins (driver/capture_dma.c), so the daemon never has to
/// write the sealed ring after creating it — which is what lets a restarted daemon adopt it.
/// Reader (anyone): `snapshot` loads the generation with acquire, then the fields; after
/// reading the payload, `stillIntact` re-loads it behind an acquire fence. Equal and even means
/// the frame read is the frame published; anything else is a detected torn read.
public struct SlotDescriptor {
    public let base: UnsafeMutableRawPointer

    public init(base: UnsafeMutableRawPointer) { self.base = base }

    public var generation: UInt64 { capture_load_acquire_u64(base + RingLayout.Descriptor.generation) }

    // MARK: writer

    public func initialise(slotOffset: Int) {
        capture_store_relaxed_u64(base + RingLayout.Descriptor.generation, 0)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.sequence, 0)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.length, 0)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.timestamp, 0)
        (base + RingLayout.Descriptor.flags).storeBytes(of: UInt32(0), as: UInt32.self)
        (base + RingLayout.Descriptor.checksum).storeBytes(of: UInt32(0), as: UInt32.self)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.offset, UInt64(slotOffset))
    }

    /// Generation becomes odd: readers of the old frame will see it was overwritten.
    public func beginFill() {
        let g = capture_load_relaxed_u64(base + RingLayout.Descriptor.generation)
        let odd = g & 1 == 1 ? g + 2 : g + 1
        capture_store_relaxed_u64(base + RingLayout.Descriptor.generation, odd)
        capture_fence_release() // the odd store is visible before any payload store that follows
    }

    /// Undoes beginFill() when the slot turned out to be held (nothing was written): the
    /// generation goes back to `generation`, so the frame there reads as it always was.
    public func abandonFill(restoring generation: UInt64) {
        capture_store_release_u64(base + RingLayout.Descriptor.generation, generation)
    }

    /// Fields, then generation even with a release store.
    public func publish(sequence: UInt64, length: UInt64, timestamp: UInt64, flags: FrameFlags, checksum: UInt32) {
        let g = capture_load_relaxed_u64(base + RingLayout.Descriptor.generation)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.sequence, sequence)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.length, length)
        capture_store_relaxed_u64(base + RingLayout.Descriptor.timestamp, timestamp)
        (base + RingLayout.Descriptor.flags).storeBytes(of: flags.rawValue.littleEndian, as: UInt32.self)
        (base + RingLayout.Descriptor.checksum).storeBytes(of: checksum.littleEndian, as: UInt32.self)
        capture_store_release_u64(base + RingLayout.Descriptor.generation, g & 1 == 1 ? g + 1 : g + 2)
    }

    // MARK: reader

    public struct Snapshot: Sendable, Equatable {
        public let generation: UInt64
        public let sequence: UInt64
        public let length: UInt64
        public let timestamp: UInt64
        public let flags: FrameFlags
        public let checksum: UInt32
        /// The slot was being refilled when we looked.
        public var isBeingFilled: Bool { generation & 1 == 1 }
    }

    public func snapshot() -> Snapshot {
        let g = capture_load_acquire_u64(base + RingLayout.Descriptor.generation)
        return Snapshot(
            generation: g,
            sequence: capture_load_relaxed_u64(base + RingLayout.Descriptor.sequence),
            length: capture_load_relaxed_u64(base + RingLayout.Descriptor.length),
            timestamp: capture_load_relaxed_u64(base + RingLayout.Descriptor.timestamp),
            flags: FrameFlags(rawValue: UInt32(littleEndian: (base + RingLayout.Descriptor.flags).load(as: UInt32.self))),
            checksum: UInt32(littleEndian: (base + RingLayout.Descriptor.checksum).load(as: UInt32.self)))
    }

    /// True when nothing has rewritten the slot since `snapshot` was taken.
    public func stillIntact(_ snapshot: Snapshot) -> Bool {
        capture_fence_acquire()
        return !snapshot.isBeingFilled && capture_load_relaxed_u64(base + RingLayout.Descriptor.generation) == snapshot.generation
    }

    /// The generation once the device has decided about this slot (PROTOCOL.md §5.2): while it
    /// is `generation + 1` the device has marked the slot and may yet give it back to a hold,
    /// so a holder waits (spinning, then yielding; at most a second) for the device to put
    /// `generation` back or go on filling. After a second the mark stands. With `spinOnly`
    /// (a caller that must not block: the daemon's event loop) the mark stands after the spin.
    public func awaitDecision(after generation: UInt64, spinOnly: Bool = false) -> UInt64 {
        var now = self.generation
        var spins = 0
        var started: UInt64 = 0
        while now == generation &+ 1 {
            spins += 1
            if spins < 1000 {
                capture_cpu_relax()
            } else if spinOnly {
                break
            } else {
                // The device lost its CPU between its mark and its look at the holds.
                let t = capture_monotonic_ns()
                if started == 0 { started = t } else if t - started > 1_000_000_000 { break }
                sched_yield()
            }
            now = self.generation
        }
        return now
    }
}

/// The ring header's newest-frame hint, written by the device after each publish.
public enum RingHead {
    public static func publish(ringBase: UnsafeMutableRawPointer, sequence: UInt64, slot: Int) {
        capture_store_relaxed_u64(ringBase + RingLayout.Header.headSlot, UInt64(slot))
        capture_store_release_u64(ringBase + RingLayout.Header.headSequence, sequence)
    }

    /// The newest frame published (acquire).
    public static func sequence(ringBase: UnsafeRawPointer) -> UInt64 {
        capture_load_acquire_u64(ringBase + RingLayout.Header.headSequence)
    }
}
