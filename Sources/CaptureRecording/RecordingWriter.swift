#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import DequeModule
import Dispatch
import Foundation

/// Writes a recording (docs/RECORDING.md): frames straight from the caller's memory (ring slots:
/// page-aligned) to `frames` with O_DIRECT, by a few writer threads so several writes are in
/// flight; their index records appended in frame order once every earlier write is complete,
/// so the index never claims a frame that is not on disk.
///
/// Why threads and not io_uring: at the frame sizes this service is for (≥ 64 KiB), a gigabyte a
/// second is at most ~16,000 writes a second; a few blocking pwrite(2)s in flight keep a disk's
/// queue full at that rate, with nothing beyond libc.
public final class RecordingWriter: Sendable {
    /// Bytes a frame's write takes: its length rounded up to the alignment (O_DIRECT writes
    /// whole blocks; the caller's buffer must extend that far, as a ring slot does).
    public static func writeBytes(forLength length: Int) -> Int {
        (length + RecordingInfo.alignment - 1) / RecordingInfo.alignment * RecordingInfo.alignment
    }

    public struct Totals: Sendable {
        public var frames: UInt64 = 0
        public var bytes: UInt64 = 0
        public var dropped: [UInt32: UInt64] = [:]   // by reason
        /// Frames written but overwritten meanwhile (their lease was revoked): not indexed.
        public var torn: UInt64 = 0
        /// What stopped the writes early (ENOSPC, another I/O error), if anything.
        public var failure: SystemError?
    }

    /// One frame's bytes, held by the caller until `done`.
    public struct Bytes: @unchecked Sendable {
        public let base: UnsafeRawPointer
        public let count: Int
        public init(_ buffer: UnsafeRawBufferPointer) { base = buffer.baseAddress!; count = buffer.count }
    }

    private struct Job: Sendable {
        var ticket: UInt64
        var record: IndexRecord
        var bytes: Bytes?
        var done: (@Sendable (Bool) -> Bool)?
    }

    private struct State: Sendable {
        var pending = Deque<Job>()
        var nextTicket: UInt64 = 0
        var nextOffset: UInt64 = 0
        /// Tickets not yet committed, in order: nil until the job completes.
        var completed: [UInt64: (IndexRecord, Bool)] = [:]
        var commitTicket: UInt64 = 0
        /// Index bytes written and reserved (fallocate) so far.
        var indexBytes: UInt64 = UInt64(IndexRecord.bytes)
        var indexReserved: UInt64 = 0
        var totals = Totals()
        var stopping = false
        var finished = false
        var writersLeft = 0
    }

    public let directory: String
    public let direct: Bool
    private let framesFile: FileDescriptor
    private let indexFile: FileDescriptor
    private let state = Locked(State())
    private let work = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let writers: Int

    /// Creates `directory` (and its parents; it must not exist, or be empty) with recording.json, `frames` and
    /// `index`, and starts `writers` threads. `direct: false` writes through the page cache
    /// (for filesystems without O_DIRECT; the recorder falls back by itself on EINVAL).
    public init(directory: String, info: RecordingInfo, writers: Int = 4, direct: Bool = true) throws {
        self.directory = directory
        self.writers = max(1, writers)
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw SystemError("mkdir(\(directory))", errno: (error as NSError).code == NSFileWriteNoPermissionError ? EACCES : EIO,
                              hint: "\(error.localizedDescription)")
        }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard existing.isEmpty else {
            throw SystemError("mkdir(\(directory))", errno: EEXIST, hint: "the directory holds \(existing.count) file(s); record into a new or empty one")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try (try encoder.encode(info) + Data("\n".utf8)).write(to: URL(fileURLWithPath: directory + "/recording.json"))
        var useDirect = direct
        var frames: FileDescriptor
        do {
            frames = try File.open(directory + "/frames", direct ? [.writeOnly, .create, .exclusive, .direct] : [.writeOnly, .create, .exclusive])
        } catch let e as SystemError where e.errno == EINVAL && direct {
            // This filesystem does not do O_DIRECT (older tmpfs, some FUSE): through the page cache.
            unlink(directory + "/frames")
            frames = try File.open(directory + "/frames", [.writeOnly, .create, .exclusive])
            useDirect = false
        }
        self.direct = useDirect
        framesFile = frames
        indexFile = try File.open(directory + "/index", [.writeOnly, .create, .exclusive])
        var header = [UInt8](repeating: 0, count: IndexRecord.bytes)
        header.replaceSubrange(0..<IndexRecord.magic.count, with: IndexRecord.magic)
        try header.withUnsafeBytes { try File.write(indexFile, $0, at: 0) }
        try reserveIndex(upTo: UInt64(IndexRecord.bytes) * 1024)
        state.withLock { $0.writersLeft = self.writers }
        for i in 0..<self.writers {
            let thread = Thread { [self] in writeLoop() }
            thread.name = "capture-record-\(i)"
            thread.start()
        }
    }

    /// Queues a frame: `bytes` (its slot, `writeBytes(forLength:)` long) written at the next
    /// aligned offset, its record (offset filled in) indexed once it and every earlier write
    /// are complete. `done(written)` runs on a writer thread when the write is over: it says
    /// whether the frame is still intact (the seqlock: a revoked lease may have let the device
    /// refill the slot mid-write; such a frame is not indexed) and releases it. Returns false
    /// (and does not call `done`) once writing has stopped.
    @discardableResult
    public func write(_ bytes: Bytes, record: IndexRecord, done: @escaping @Sendable (Bool) -> Bool) -> Bool {
        let queued: Bool = state.withLock { s in
            guard !s.stopping else { return false }
            var r = record
            r.offset = s.nextOffset
            s.nextOffset += UInt64(bytes.count)
            s.pending.append(Job(ticket: s.nextTicket, record: r, bytes: bytes, done: done))
            s.nextTicket += 1
            return true
        }
        if queued { work.signal() }
        return queued
    }

    /// Records that frames `first ..< first + count` were dropped (`reason`: PROTOCOL.md §3.5).
    public func drop(first: UInt64, count: UInt64, reason: UInt32) {
        let record = IndexRecord(kind: .drop, flags: reason, sequence: first, offset: count)
        state.withLock { s in
            guard !s.stopping else { return }
            s.totals.dropped[reason, default: 0] += count
            let ticket = s.nextTicket
            s.nextTicket += 1
            complete(ticket, record, ok: true, &s)
        }
    }

    /// Whether writing stopped on an error (a full disk): the caller should stop taking frames.
    public var failure: SystemError? { state.withLock { $0.totals.failure } }

    /// Bytes queued or written so far (for --max-bytes).
    public var bytesQueued: UInt64 { state.withLock { $0.nextOffset } }

    /// Waits for every queued write, appends the end record, syncs both files and closes them.
    public func finish(_ reason: IndexRecord.EndReason) -> Totals {
        let first: Bool = state.withLock { s in
            defer { s.finished = true }
            s.stopping = true
            return !s.finished
        }
        guard first else { return state.withLock { $0.totals } }
        for _ in 0..<writers { work.signal() }   // each writer drains the queue, then leaves
        for _ in 0..<writers { finished.wait() }
        var totals = state.withLock { s in
            let why: IndexRecord.EndReason = s.totals.failure.map { $0.errno == ENOSPC ? .diskFull : .failed } ?? reason
            appendIndex([IndexRecord(kind: .end, flags: why.rawValue, realtimeNanoseconds: Self.realtime())], &s)
            return s.totals
        }
        do {
            try File.syncData(framesFile)
            try File.syncData(indexFile)
        } catch let e as SystemError {
            if totals.failure == nil { totals.failure = e }
        } catch {}
        framesFile.close()
        indexFile.close()
        return totals
    }

    // MARK: writer threads

    private func writeLoop() {
        while true {
            work.wait()
            let job: Job? = state.withLock { s in s.pending.popFirst() }
            guard let job else {
                if state.withLock({ $0.stopping && $0.pending.isEmpty }) { break }
                continue
            }
            var ok = state.withLock { $0.totals.failure == nil }
            if ok, let bytes = job.bytes {
                do {
                    try File.write(framesFile, UnsafeRawBufferPointer(start: bytes.base, count: bytes.count), at: job.record.offset)
                } catch let e as SystemError {
                    ok = false
                    state.withLock { s in
                        if s.totals.failure == nil { s.totals.failure = e }
                        s.stopping = true   // a full disk stays full: take no more frames
                    }
                } catch { ok = false }
            }
            let keep = job.done?(ok) ?? ok
            state.withLock { s in
                if ok && !keep { s.totals.torn += 1 }
                complete(job.ticket, job.record, ok: ok && keep, &s)
            }
        }
        finished.signal()
    }

    /// Marks `ticket` complete and appends, in ticket order, every record now committable.
    /// A frame whose write failed, or that was overwritten while written, is not indexed (a
    /// recording never claims a frame it did not write): a drop record (reason `notWritten`)
    /// takes its place, so nothing is missing silently.
    private func complete(_ ticket: UInt64, _ record: IndexRecord, ok: Bool, _ s: inout State) {
        s.completed[ticket] = (record, ok)
        var records: [IndexRecord] = []
        while let (r, good) = s.completed.removeValue(forKey: s.commitTicket) {
            s.commitTicket += 1
            var r = r
            if !good {
                guard r.kind == .frame else { continue }
                r = IndexRecord(kind: .drop, flags: IndexRecord.notWritten, sequence: r.sequence, offset: 1)
                s.totals.dropped[IndexRecord.notWritten, default: 0] += 1
            }
            r.realtimeNanoseconds = Self.realtime()
            records.append(r)
            if r.kind == .frame {
                s.totals.frames += 1
                s.totals.bytes += r.length
            }
        }
        if !records.isEmpty { appendIndex(records, &s) }
    }

    /// write(2) at the end of `index`, keeping blocks reserved ahead so a full disk cannot
    /// stop the index from describing the frames that are written.
    private func appendIndex(_ records: [IndexRecord], _ s: inout State) {
        var bytes = [UInt8](repeating: 0, count: records.count * IndexRecord.bytes)
        bytes.withUnsafeMutableBytes { raw in
            for (i, r) in records.enumerated() {
                r.encode(into: UnsafeMutableRawBufferPointer(rebasing: raw[(i * IndexRecord.bytes)..<((i + 1) * IndexRecord.bytes)]))
            }
        }
        do {
            let at = s.indexBytes
            try bytes.withUnsafeBytes { try File.write(indexFile, $0, at: at) }
            s.indexBytes += UInt64(bytes.count)
            if s.indexBytes + 512 * UInt64(IndexRecord.bytes) > s.indexReserved {
                try File.reserve(indexFile, offset: s.indexReserved, length: 2048 * UInt64(IndexRecord.bytes))
                s.indexReserved += 2048 * UInt64(IndexRecord.bytes)
            }
        } catch let e as SystemError {
            if s.totals.failure == nil { s.totals.failure = e }
            s.stopping = true
        } catch {}
    }

    private func reserveIndex(upTo bytes: UInt64) throws {
        try File.reserve(indexFile, offset: 0, length: bytes)
        state.withLock { $0.indexReserved = bytes }
    }

    static func realtime() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
