#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureClient
import CaptureProtocol
import CaptureRecording
import CaptureSystem
import Foundation
import Synchronization

/// Set by SIGINT/SIGTERM: `record` stops taking frames, finishes its writes and exits.
let stopRecording = Atomic<Bool>(false)

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a stream to disk, frames straight from the ring (O_DIRECT), until a limit or Ctrl-C.",
        discussion: """
            PATH becomes a directory holding recording.json, frames and index (docs/RECORDING.md). Frames are \
            leased while they are written, so none can be overwritten mid-write; frames the recorder could not \
            keep up with are dropped by the daemon and noted in the index. A recording cut off (SIGKILL, a crash, \
            a full disk) is readable up to its last complete frame. Read it with Python's capture.Recording, \
            replay it with a stream whose device is "replay:PATH".

            Examples:
              capturectl record sim0 /tmp/x --duration 10s
              capturectl record cam0 /data/run1 --max-bytes 500G
              capturectl record sim0 /tmp/y --frames 1000 --writers 8
            """)
    @Argument(help: "Stream name, e.g. sim0.") var stream: String
    @Argument(help: "The directory to create.") var path: String
    @Option(name: .long, help: "Stop after this many frames.") var frames: Int?
    @Option(name: .long, help: "Stop after this long: 10s, 2m, 1h, 500ms.") var duration: DurationArgument?
    @Option(name: .long, help: "Stop before this many bytes: 500M, 10G, 1T.") var maxBytes: ByteCountArgument?
    @Option(name: .long, help: "Writes in flight (writer threads).") var writers: Int = 4
    @Option(name: .long, help: "Frames leased at once (0: the stream's max_leases).") var maxLeases: Int = 0
    @Flag(name: .long, help: "Write through the page cache instead of O_DIRECT.") var buffered = false
    @OptionGroup var options: SocketOption

    func validate() throws {
        if let frames, frames <= 0 { throw ValidationError("--frames must be positive") }
        guard (1...64).contains(writers) else { throw ValidationError("--writers must be 1 to 64") }
    }

    func run() throws {
        signal(SIGINT) { _ in stopRecording.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in stopRecording.store(true, ordering: .relaxed) }
        let client: CaptureClient
        do { client = try CaptureClient.connect(stream: stream, mode: .lease, maxLeases: maxLeases, socketPath: options.socket) } catch { throw fail(error) }
        defer { client.close() }
        let ring = client.ring
        let info = RecordingInfo(stream: stream, frameBytes: ring.geometry.frameBytes, payload: ring.payloadFormat.name,
                                 format: ring.format, started: ISO8601DateFormatter().string(from: Date()),
                                 host: ProcessInfo.processInfo.hostName)
        let writer: RecordingWriter
        do { writer = try RecordingWriter(directory: path, info: info, writers: writers, direct: !buffered) } catch { throw fail(error) }
        if !buffered && !writer.direct { printError("capturectl: \(path): this filesystem does not do O_DIRECT; writing through the page cache") }

        let started = monotonicNanoseconds()
        let deadline = duration.map { started + $0.nanoseconds }
        var taken = 0
        var failure: Error?
        recording: while !stopRecording.load(ordering: .relaxed) {
            if let deadline, monotonicNanoseconds() >= deadline { break }
            if writer.failure != nil { break }
            let event: CaptureEvent
            do { event = try client.nextEvent(timeout: .milliseconds(100)) } catch CaptureClientError.timedOut { continue } catch {
                failure = error
                break
            }
            switch event {
            case .frame(let frame):
                let size = RecordingWriter.writeBytes(forLength: frame.length)
                if let frames, taken >= frames { try? client.release(frame); break recording }
                if let maxBytes, writer.bytesQueued + UInt64(size) > maxBytes.bytes { try? client.release(frame); break recording }
                // The slot from its start for whole blocks: slots are page-aligned and page-sized.
                let slot = UnsafeRawBufferPointer(start: ring.payload(slot: Int(frame.slot), length: 1).baseAddress, count: size)
                let record = IndexRecord(kind: .frame, flags: frame.flags.rawValue, sequence: frame.sequence,
                                         timestampNanoseconds: frame.timestampNanoseconds, length: UInt64(frame.length), checksum: frame.checksum)
                let queued = writer.write(.init(slot), record: record) { written in
                    let intact = written && frame.isIntact
                    try? client.release(frame)
                    return intact
                }
                if !queued { try? client.release(frame); break recording }
                taken += 1
                if let frames, taken >= frames { break recording }
            case .dropped(let d):
                writer.drop(first: d.firstSequence, count: d.count, reason: d.reason.rawValue)
            case .leaseRevoked(let seq, _):
                printError("capturectl: the lease on frame \(seq) was revoked before its write finished (is the disk stalling?); if the device refilled its slot meanwhile it is not recorded")
            case .notice(let code, let text):
                printError("capturectl: notice from captured: \(code): \(text)")
            case .reconnected:
                break
            }
        }
        let totals = writer.finish(failure == nil ? .finished : .failed)
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        let gb = Double(totals.bytes) / 1e9
        print(String(format: "recorded %llu frames (%.2f GB) of %@ in %.1f s (%.2f GB/s) to %@", totals.frames, gb, stream, seconds, gb / max(seconds, 1e-9), path))
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        print(String(format: "recorder CPU %.2f s (%.3f s per GB)", cpu, gb > 0 ? cpu / gb : 0))
        let dropped = totals.dropped.values.reduce(0, +)
        // A self-serve recorder that fell behind sees its oldest waiting frames reused (recycled)
        // as often as it meets its limit: both mean the disk did not keep up.
        let behind = (totals.dropped[DropReason.leaseLimit.rawValue] ?? 0) + (totals.dropped[DropReason.recycled.rawValue] ?? 0)
        let causes = totals.dropped.sorted { $0.key < $1.key }.map { reason, count in
            let name = reason == IndexRecord.notWritten ? "not written (\(totals.torn) refilled mid-write)" : DropReason(rawValue: reason).map { "\($0)" } ?? "reason \(reason)"
            return "\(name) \(count)"
        }
        print("dropped \(dropped)" + (causes.isEmpty ? "" : " (\(causes.joined(separator: ", ")))") +
              (behind > 0 ? "; lease limit and recycled drops mean the recorder fell behind: more --writers, a faster disk" : ""))
        if let e = totals.failure {
            printError("capturectl: \(e.errno == ENOSPC ? "the disk is full" : "writing failed"): \(e); the recording holds every frame up to the last one indexed")
            throw ExitCode.failure
        }
        if let failure { throw fail(failure) }
    }
}
