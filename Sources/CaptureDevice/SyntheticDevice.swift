#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCaptureShim
import DequeModule
import Foundation
import Synchronization

/// A device made of a thread: it fills queued slots through its own writable mapping of the
/// ring — as DMA would — from a FrameSource (the test payloads, or a recording replayed), at a
/// fixed frame rate, at the source's own pace, or as fast as slots come back, and reports
/// completions the way /dev/captureN does: a queue the daemon drains, behind a descriptor that
/// polls readable. The doorbell (an eventfd) rings only when the queue turns non-empty, so a
/// busy device costs one write(2) per batch the daemon takes, not one per frame.
public final class SyntheticDevice: RecyclingDevice {
    public struct Settings: Sendable {
        /// Frames per second; 0 means as fast as slots are queued. A source with a pace of its
        /// own (a replay at its recorded rate) sets the time between frames instead.
        public var frameRate: Double
        public var source: any FrameSource
        public var name: String

        public init(frameRate: Double, source: any FrameSource, name: String = "synthetic") {
            self.frameRate = frameRate
            self.source = source
            self.name = name
        }

        /// The test payloads (pattern, header, image).
        public init(frameBytes: Int, frameRate: Double, payload: PayloadFormat, format: FrameFormat = .opaque) {
            self.init(frameRate: frameRate, source: TestPayloadSource(payload: payload, format: format, frameBytes: frameBytes))
        }

        /// Paced by the source or the frame rate; otherwise as fast as slots come back.
        var paced: Bool { frameRate > 0 || source.interval(before: 1) != nil }
    }

    public var name: String { settings.name }
    public let settings: Settings
    private let shared: Shared
    private var started = false

    /// State the producer thread and the daemon thread share; every field is itself Sendable.
    private final class Shared: Sendable {
        let queued = Locked<Deque<UInt32>>([])
        /// Set while the producer waits for a slot (full-speed mode), so queue() wakes it only then.
        let idle = Atomic<Bool>(false)
        let wake: EventCounter
        /// Frame times, when paced (see produce()); stop() fires it.
        let clock: DeadlineTimer?
        let finished: EventCounter
        let running = Atomic<Bool>(false)
        let frames = Atomic<UInt64>(0)
        let overruns = Atomic<UInt64>(0)
        /// Completions not yet read by the daemon, and the doorbell that says there are some.
        let completions = Locked<Deque<DeviceCompletion>>([])
        let doorbell: EventCounter
        /// Clients' doorbells, rung after each publish (under this lock, so removal is final).
        let clientDoorbells = Locked<[Doorbell]>([])
        let closed = Atomic<Bool>(false)
        let target = Locked<(mapping: Mapping, geometry: RingGeometry)?>(nil)
        /// Set before start: the device takes the oldest unheld slot itself (RecyclingDevice).
        let recycling = Atomic<Bool>(false)
        let holds = Locked<SlotHolds?>(nil)

        init(paced: Bool) throws {
            wake = try EventCounter()
            clock = paced ? try DeadlineTimer() : nil
            finished = try EventCounter()
            doorbell = try EventCounter()
        }
    }

    public init(settings: Settings) throws {
        self.settings = settings
        shared = try Shared(paced: settings.paced)
    }

    /// Maps the ring read-write a second time: the device's own view, made before sealing.
    public func attach(ring: Ring) throws {
        guard settings.source.frameBytes <= ring.geometry.frameBytes else {
            throw DeviceError.frameTooLarge(frameBytes: settings.source.frameBytes, slotBytes: ring.geometry.frameBytes)
        }
        let mapping = try Mapping(sharing: ring.memfd, length: ring.geometry.ringBytes, protection: [.read, .write])
        shared.target.withLock { $0 = (mapping, ring.geometry) }
        shared.holds.withLock { $0 = SlotHolds(slotCount: ring.geometry.slotCount) }
    }

    // MARK: RecyclingDevice

    public var holds: SlotHolds? { shared.holds.withLock { $0 } }

    /// From the next start on, the device recycles: after the slots it was queued once, it takes
    /// the oldest slot whose frame nobody holds, and never waits for the daemon.
    public func recycleSlots() { shared.recycling.store(true, ordering: .releasing) }
    public var recycles: Bool { shared.recycling.load(ordering: .acquiring) }

    /// Takes the slots, to be filled in this order. Their frames stay readable until the
    /// producer starts on each (it turns the generation odd then, as the driver does).
    public func queue(_ slots: [UInt32]) throws {
        guard let geometry = shared.target.withLock({ $0?.geometry }) else { throw DeviceError.notAttached }
        for s in slots where Int(s) >= geometry.slotCount { throw DeviceError.invalidSlot(s) }
        shared.queued.withLock { $0.append(contentsOf: slots) }
        // Pairs with the producer's idle store before it looks at the queue (see produce()).
        if !settings.paced && shared.idle.load(ordering: .sequentiallyConsistent) { shared.wake.signal() }
    }

    public var completionDescriptor: FileDescriptor { shared.doorbell.fd }

    /// A pipe: the client gets the read end; the producer writes to the other without blocking.
    public func makeDoorbell(reader: HoldsPage?) throws -> Doorbell? {
        let bell = try Doorbell.pipe(reader: reader)
        shared.clientDoorbells.withLock { $0.append(bell) }
        return bell
    }

    /// After this returns the device no longer touches `bell` (it rings under the same lock).
    public func removeDoorbell(_ bell: Doorbell) {
        shared.clientDoorbells.withLock { $0.removeAll { $0 === bell } }
    }

    /// The doorbell is reset before the queue is taken, so a completion queued after the take
    /// rings it again.
    public func readCompletions() throws -> [DeviceCompletion] {
        shared.doorbell.drain()
        return shared.completions.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return Array(queue)
        }
    }

    public func start() throws {
        guard !started else { return }
        guard shared.target.withLock({ $0 != nil }) else { throw DeviceError.notAttached }
        started = true
        shared.running.store(true, ordering: .releasing)
        let shared = self.shared
        let settings = self.settings
        let thread = Thread { SyntheticDevice.produce(shared: shared, settings: settings) }
        thread.name = "capture-synthetic"
        thread.start()
    }

    public func stop() {
        guard started else { return }
        started = false
        shared.running.store(false, ordering: .releasing)
        shared.wake.signal()
        shared.clock?.fireNow()
        _ = shared.finished.wait(timeoutNanoseconds: 5_000_000_000)
        shared.finished.drain()
    }

    public func stats() -> DeviceStats {
        var s = DeviceStats()
        s.frames = shared.frames.load(ordering: .relaxed)
        s.overruns = shared.overruns.load(ordering: .relaxed)
        // errors stays 0: filling memory cannot fail the way a DMA transfer can.
        return s
    }

    public func close() {
        stop()
        shared.target.withLock { $0 = nil }
        shared.closed.store(true, ordering: .releasing)
    }

    deinit { close() }

    // MARK: the producer thread

    /// Completion records kept for a daemon that collects late.
    static let completionLimit = 65_536

    private static func produce(shared: Shared, settings: Settings) {
        defer { shared.finished.signal() }
        guard let (mapping, geometry) = shared.target.withLock({ $0 }) else { return }
        let source = settings.source
        let holds = shared.holds.withLock { $0 } ?? SlotHolds(slotCount: geometry.slotCount)
        let fixedPeriod = settings.frameRate > 0 ? UInt64(1e9 / settings.frameRate) : 0
        let paced = settings.paced
        var next = monotonicNanoseconds()
        var sequence: UInt64 = 0
        var ended = false
        // Frame times come from a timer armed one frame ahead, as a device's come from its
        // hardware: after a frame's doorbells and bookkeeping this thread sleeps in read(2),
        // and a client woken onto its CPU does not wait for a timer to be programmed (a VM
        // exit, several µs on this machine) or a poll set up.
        let clock = shared.clock
        var armedAt: UInt64 = 0
        func arm(_ deadline: UInt64) {
            guard let clock, deadline != armedAt else { return }
            clock.arm(at: deadline)
            armedAt = deadline
        }
        while shared.running.load(ordering: .acquiring) {
            if ended {
                // The source has no more frames (a replay played once): idle until stop().
                _ = shared.wake.wait(timeoutNanoseconds: -1)
                shared.wake.drain()
                continue
            }
            if paced {
                let ownPace = source.interval(before: sequence + 1)
                let period = ownPace ?? fixedPeriod
                next += period
                let now = monotonicNanoseconds()
                if now < next {
                    // Sleep to the frame time; stop() ends the sleep.
                    if let clock {
                        arm(next) // armed already, unless the pace changed
                        // stop() clears `running` before it fires the clock: either the firing
                        // ends this wait, or `running` is seen here.
                        guard shared.running.load(ordering: .acquiring) else { continue }
                        clock.wait()
                        armedAt = 0
                        guard shared.running.load(ordering: .acquiring) else { continue }
                    } else if shared.wake.wait(timeoutNanoseconds: Int64(next - now)) {
                        shared.wake.drain(); next -= period; continue
                    }
                } else if now - next > 1_000_000_000 {
                    if ownPace == nil && period > 0 {
                        // More than a second late (the machine stalled us): those frames never
                        // existed on time; count them as overruns like a real device would.
                        let missed = (now - next) / period
                        if missed > 0 { RingGaps.log(ringBase: mapping.base, first: sequence + 1, count: missed) }
                        sequence += missed
                        shared.overruns.add(missed, ordering: .relaxed)
                        next += missed * period
                    } else {
                        // A replay keeps its frames: it goes on from where it was, from now.
                        next = now
                    }
                }
            }
            if paced { arm(next + (source.interval(before: sequence + 2) ?? fixedPeriod)) }
            if !source.has(sequence + 1) {
                ended = true   // the slots stay queued, their frames as they were
                continue
            }
            let recycling = shared.recycling.load(ordering: .relaxed)
            let slot: UInt32? = recycling ? takeUnheld(shared: shared, mapping: mapping, geometry: geometry, holds: holds)
                                          : shared.queued.withLock { $0.popFirst() }
            guard let slot else {
                if paced || recycling {
                    // No slot: this frame is lost for every client, and logged for those that
                    // read the ring head themselves. (Recycling and full speed: every slot is held;
                    // wait a little for a release instead of spinning.)
                    sequence += 1
                    shared.overruns.add(1, ordering: .relaxed)
                    RingGaps.log(ringBase: mapping.base, first: sequence, count: 1)
                    if !paced { _ = shared.wake.wait(timeoutNanoseconds: 100_000); shared.wake.drain() }
                } else {
                    // Say we are idle, then look once more: queue() either sees the flag or
                    // its slot is seen here, so no wake-up is lost.
                    shared.idle.store(true, ordering: .sequentiallyConsistent)
                    if shared.queued.withLock({ $0.isEmpty }) { _ = shared.wake.wait(timeoutNanoseconds: -1) }
                    shared.idle.store(false, ordering: .relaxed)
                    shared.wake.drain()
                }
                continue
            }
            sequence += 1
            let descriptor = SlotDescriptor(base: mapping.base + geometry.descriptorOffset(Int(slot)))
            if !recycling { descriptor.beginFill() } // takeUnheld() marked it already
            let slotBytes = UnsafeMutableRawBufferPointer(start: mapping.base + geometry.slotOffset(Int(slot)), count: geometry.slotStride)
            let fill = source.fill(slotBytes, sequence: sequence)
            let completion = DeviceCompletion(slot: slot, flags: fill.flags, bytes: UInt64(fill.length), sequence: sequence,
                                              timestampNanoseconds: monotonicNanoseconds(), checksum: fill.checksum)
            descriptor.publish(sequence: sequence, length: completion.bytes, timestamp: completion.timestampNanoseconds,
                               flags: fill.flags, checksum: fill.checksum)
            RingHead.publish(ringBase: mapping.base, sequence: sequence, slot: Int(slot))
            if shared.closed.load(ordering: .acquiring) { return } // the daemon is going away
            // The clients' doorbells first: the bookkeeping below is this thread's and the
            // daemon's, and a client woken onto the other CPU (nearly always: this one is busy)
            // need not wait for it. A client woken onto this CPU waits for it either way.
            capture_fence_seq_cst() // the head, then each reader's `examined` (Doorbell.ring(after:))
            shared.clientDoorbells.withLock { bells in for bell in bells { bell.ring(after: sequence) } }
            if recycling { shared.queued.withLock { $0.append(slot) } } // back in line, behind every older frame
            let wasEmpty = shared.completions.withLock { queue in
                // A daemon that collects late (stopped, or not watching: it has no client to
                // tell) finds the newest records; what it missed it sees as a sequence gap.
                if queue.count >= Self.completionLimit { queue.removeFirst() }
                queue.append(completion)
                return queue.count == 1
            }
            if wasEmpty { shared.doorbell.signal() }
            shared.frames.add(1, ordering: .relaxed)
        }
    }

    /// The oldest slot in line whose frame nobody holds, taken out of the line with its
    /// generation odd (the device's mark); nil when every slot is held. The mark comes before the
    /// last look at the holds, and a holder stores its hold before it looks at the slot: one of
    /// the two sees the other (PROTOCOL.md §5.2).
    private static func takeUnheld(shared: Shared, mapping: Mapping, geometry: RingGeometry, holds: SlotHolds) -> UInt32? {
        var i = 0
        while true {
            guard let slot = shared.queued.withLock({ i < $0.count ? $0[i] : nil }) else { return nil }
            let descriptor = SlotDescriptor(base: mapping.base + geometry.descriptorOffset(Int(slot)))
            let before = descriptor.snapshot()
            let stale = before.generation != 0 && !before.isBeingFilled
            if !stale || !holds.isHeld(slot: Int(slot), sequence: before.sequence) {
                descriptor.beginFill()
                capture_fence_seq_cst()
                if stale && holds.isHeld(slot: Int(slot), sequence: before.sequence) {
                    descriptor.abandonFill(restoring: before.generation) // a hold came in meanwhile
                } else {
                    // Only appends happen elsewhere, so the slot is still at index i.
                    shared.queued.withLock { _ = $0.remove(at: i) }
                    return slot
                }
            }
            i += 1
        }
    }
}
