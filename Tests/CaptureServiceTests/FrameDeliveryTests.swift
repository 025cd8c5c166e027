#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import Foundation
import XCTest

/// Reads `count` frames in lease mode, verifying each; returns what it saw.
struct LeaseRun {
    var frames = 0
    var corrupt: [String] = []
    var dropped: UInt64 = 0
    var droppedByReason: [DropReason: UInt64] = [:]
    var outOfOrder = 0
    var unreportedGaps = 0

    init(_ client: CaptureClient, count: Int) throws {
        var last: UInt64?
        var reportedUpTo: UInt64 = 0
        while frames < count {
            switch try client.nextEvent(timeout: .seconds(10)) {
            case .frame(let f):
                switch f.check() {
                case .intact: break
                case .overwritten: corrupt.append("frame \(f.sequence) overwritten while leased")
                case .corrupt(let why): corrupt.append("frame \(f.sequence): \(why)")
                }
                if let last {
                    if f.sequence <= last { outOfOrder += 1 }
                    if f.sequence > last + 1 && reportedUpTo < f.sequence - 1 { unreportedGaps += 1 }
                }
                last = f.sequence
                frames += 1
                try client.release(f)
            case .dropped(let d):
                dropped += d.count
                droppedByReason[d.reason, default: 0] += d.count
                reportedUpTo = max(reportedUpTo, d.firstSequence + d.count - 1)
            case .leaseRevoked, .notice, .reconnected:
                break
            }
        }
    }
}

final class FrameDeliveryTests: XCTestCase {
    func testLeaseClientGetsThousandsOfFramesIntactAndInOrder() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let client = try daemon.connect()
        let run = try LeaseRun(client, count: 5000)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.outOfOrder, 0)
        XCTAssertEqual(run.unreportedGaps, 0)
        // On a CPU-starved machine the device can overrun; such drops are reported (checked
        // above: no unreported gap) and must stay the exception, not the rule.
        XCTAssertLessThan(run.dropped, 500, "a prompt client with 32 leases of slack should lose (almost) nothing")
        // A frame counts as leased from its announcement, so a client kept off the CPU for more
        // than 32 frames (16 ms here) meets its own limit however promptly it releases: reported
        // (no unreported gap), and rare.
        XCTAssertLessThan(run.droppedByReason[.leaseLimit, default: 0], 100, "a client that releases promptly rarely meets its lease limit")
    }

    func testHeaderPayloadStampsTheSequenceWithoutTouchingTheRest() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4_000_000, rate: 0, payload: "header", slots: 16))
        let client = try daemon.connect()
        let run = try LeaseRun(client, count: 2000)
        XCTAssertEqual(run.corrupt, [], "every frame's first 8 bytes are its sequence")
        XCTAssertEqual(try daemon.status().streams[0].payload, "header")
    }

    func testCapturectlTailVerifiesAndSummarises() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let (status, output) = try runTool("capturectl", ["tail", "sim0", "--frames", "2000", "--verify", "--socket", daemon.socketPath])
        XCTAssertEqual(status, 0, output)
        let summary = try XCTUnwrap(output.split(separator: "\n").last.map(String.init))
        XCTAssertTrue(summary.hasPrefix("2000 frames, 0 corrupt, "), summary)
        let dropped = Int(summary.split(separator: " ")[4]) ?? -1
        XCTAssertTrue((0..<200).contains(dropped), "\(summary)\n\(daemon.log)")

        let (latestStatus, latest) = try runTool("capturectl", ["tail", "sim0", "--frames", "500", "--mode", "latest", "--verify", "--socket", daemon.socketPath])
        XCTAssertEqual(latestStatus, 0, latest)
        XCTAssertTrue(latest.contains("500 frames, 0 corrupt,"), latest)
    }

    /// examples/python/capture_tail.py is written from docs/PROTOCOL.md alone: if it reads
    /// verified frames, the document is enough to write a client.
    func testAClientWrittenFromTheProtocolDocumentWorks() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/python/capture_tail.py").standardized.path
        for mode in ["lease", "latest"] {
            let (status, output) = try runTool("/usr/bin/env", ["python3", script, "--socket", daemon.socketPath, "--mode", mode, "sim0", "500"])
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.hasPrefix("500 frames, 0 corrupt, "), output)
        }
    }

    func testSlowLeaseClientCostsOthersNothingAndItsDropsAreCounted() throws {
        // The daemon queues the slots (the path where a held slot could starve the device), 48 at
        // a time: 24 ms of slack at 2,000 frames/s for a daemon kept off the CPU. With 16 (8 ms),
        // a host with 16% steal time overran the device in 4 runs of 5, slow client or not.
        let daemon = try DaemonFixture(config: DaemonFixture.config(slots: 64, queueDepth: 48))
        let slow = try daemon.connect(maxLeases: 4) // takes 4 frames and never gives them back
        let fast = try daemon.connect()
        let stolenBefore = stolenMilliseconds()
        let run = try LeaseRun(fast, count: 3000)
        // How many drops there are says as much about the host as about the slow client: a host
        // that takes both CPUs away for more than the 48 slots' slack overruns the device, slow
        // client or not (CI saw 699 overruns while the host stole ~40% of the CPU time, with and
        // without this stop's device changes). The counts are judged on a machine the host left
        // alone, as capture-bench judges latency; what each drop is and that it is reported are
        // judged always.
        let stolen = stolenMilliseconds() - stolenBefore
        let quiet = stolen <= 100
        if !quiet { print("the host stole \(Int(stolen)) ms of CPU time during the run: drop counts not judged") }
        XCTAssertEqual(run.corrupt, [])
        // The slow client's held slots would show as device drops; lease-limit drops are the fast
        // client's own (a stall of 32 frames) and stay rare.
        if quiet {
            XCTAssertLessThan(run.droppedByReason[.deviceOverrun, default: 0], 100, "the slow client's leases must not cost the fast one frames")
            XCTAssertLessThan(run.droppedByReason[.leaseLimit, default: 0], 100)
            XCTAssertLessThan(run.dropped, 300)
        }
        XCTAssertEqual(run.unreportedGaps, 0)

        let report = try daemon.status()
        let stream = try XCTUnwrap(report.streams.first)
        let slowStatus = try XCTUnwrap(stream.clients.first { $0.maxLeases == 4 })
        XCTAssertEqual(slowStatus.leases, 4)
        XCTAssertGreaterThan(slowStatus.dropped, 2000)
        // Every frame a client missed is accounted for: its own lease limit (the stream's
        // client drops are both clients'), or (rarely, on a loaded machine) a device overrun
        // that both saw.
        let fastStatus = try XCTUnwrap(stream.clients.first { $0.maxLeases != 4 })
        XCTAssertEqual(slowStatus.dropped + fastStatus.dropped, stream.clientDrops + 2 * stream.dropped)
        if quiet { XCTAssertLessThan(stream.dropped, 300, "the device should rarely run short") }

        // The slow client is told, with the reason, about every frame it missed.
        var frames = 0
        var reported: UInt64 = 0
        var reasons = Set<DropReason>()
        while let event = try? slow.nextEvent(timeout: .milliseconds(300)) {
            switch event {
            case .frame: frames += 1
            case .dropped(let d):
                reasons.insert(d.reason)
                reported += d.count
            default: break
            }
            if reported >= slowStatus.dropped { break }
        }
        XCTAssertEqual(frames, 4)
        XCTAssertGreaterThanOrEqual(reported, slowStatus.dropped)
        XCTAssertTrue(reasons.contains(.leaseLimit))
    }

    func testLatestClientNeverAcceptsATornFrame() throws {
        // As fast as possible into a small ring: published slots are reclaimed within microseconds.
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 262_147, rate: 0, slots: 10, maxLeases: 1))
        let client = try daemon.connect(mode: .latest)
        var intact = 0, overwritten = 0
        var corrupt: [String] = []
        for i in 0..<400 {
            let frame = try client.nextFrame(timeout: .seconds(10))
            if i % 2 == 0 { usleep(2000) } // dawdle: the device laps us
            switch frame.check() {
            case .intact: intact += 1
            case .overwritten: overwritten += 1
            case .corrupt(let why): corrupt.append(why)
            }
        }
        XCTAssertEqual(corrupt, [], "a torn frame must be reported as overwritten, never accepted or called corrupt")
        XCTAssertGreaterThan(overwritten + Int(client.statistics.overwritten), 0, "the test did not provoke an overwrite")
        print("latest: \(intact) intact, \(overwritten) overwritten while read, \(client.statistics.overwritten) overwritten before read")
    }

    func testDaemonGoingAwayIsACleanErrorAndFramesStayReadable() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let client = try daemon.connect()
        let frame = try client.nextFrame(timeout: .seconds(10))
        XCTAssertEqual(frame.check(), .intact)
        daemon.stop()
        XCTAssertThrowsError(try { while true { _ = try client.nextFrame(timeout: .seconds(10)) } }()) { error in
            guard case CaptureClientError.daemonGone = error else { return XCTFail("expected daemonGone, got \(error)") }
        }
        XCTAssertEqual(frame.check(), .intact, "the mapping outlives the daemon")
    }

    func testAsyncSequenceDeliversFrames() async throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let client = try daemon.connect()
        var sequences: [UInt64] = []
        for try await frame in client.frames {
            XCTAssertEqual(frame.check(), .intact)
            try client.release(frame)
            sequences.append(frame.sequence)
            if sequences.count == 100 { break }
        }
        XCTAssertEqual(sequences, sequences.sorted())
        XCTAssertEqual(Set(sequences).count, 100)
        // Any gap was reported as dropped (on a loaded machine the device may overrun).
        XCTAssertLessThanOrEqual(sequences.last! - sequences.first! + 1 - 100, client.statistics.dropped)
    }
}

final class FrameFormatTests: XCTestCase {
    /// A stream that says what its frames hold: the ring header and status carry the format,
    /// and the synthetic device's test picture verifies byte for byte.
    func testAnImageStreamSaysWhatItHoldsAndItsPictureVerifies() throws {
        var config = DaemonFixture.config(frameBytes: 0, rate: 500, payload: "image")
        config = config.replacingOccurrences(of: "frame_bytes = 0\n", with: "")
        config += "\nformat = { pixel_format = \"RGB\", width = 320, height = 240, stride = 1000 }\n"
        let daemon = try DaemonFixture(config: config)
        let stream = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertEqual(stream.format, .init(kind: "image", pixelFormat: "RGB", width: 320, height: 240, stride: 1000))
        XCTAssertEqual(stream.frameBytes, 240_000)
        XCTAssertEqual(stream.payload, "image")
        let client = try daemon.connect()
        XCTAssertEqual(client.ring.format, .image(pixelFormat: "RGB", width: 320, height: 240, stride: 1000))
        let run = try LeaseRun(client, count: 300)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
        let (status, output) = try runTool("capturectl", ["tail", "sim0", "--frames", "200", "--verify", "--socket", daemon.socketPath])
        XCTAssertEqual(status, 0, output)
        let (_, text) = try runTool("capturectl", ["status", "--socket", daemon.socketPath])
        XCTAssertTrue(text.contains("format:  RGB 320x240, 1000 bytes per row"), text)
    }

    func testASampleStreamSaysItsDtypeAndShape() throws {
        var config = DaemonFixture.config(frameBytes: 0, rate: 500)
        config = config.replacingOccurrences(of: "frame_bytes = 0\n", with: "")
        config += "\nformat = { dtype = \"<i2\", shape = [4, 1000] }\n"
        let daemon = try DaemonFixture(config: config)
        let client = try daemon.connect(mode: .latest)
        XCTAssertEqual(client.ring.format, .samples(dtype: "<i2", shape: [4, 1000]))
        XCTAssertEqual(try client.nextFrame(timeout: .seconds(5)).length, 8000)
        XCTAssertEqual(try daemon.status().streams[0].format, .init(kind: "samples", dtype: "<i2", shape: [4, 1000]))
    }
}
