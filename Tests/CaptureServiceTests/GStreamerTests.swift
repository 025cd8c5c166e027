#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import Foundation
import XCTest

/// capturesrc (gstreamer/) in real pipelines against the real daemon: every buffer checked by
/// gstreamer/tests/check-capturesrc.c (an appsink), and gst-launch-1.0 with videoconvert.
final class GStreamerTests: XCTestCase {
    static let build = DrivenProgram.repository.appendingPathComponent("gstreamer/build")
    static let libcapture = DrivenProgram.repository.appendingPathComponent("libcapture/build")

    /// The plugin and libcapture from the tree, a registry of the test's own.
    private func environment(_ directory: String) -> [String: String] {
        var e = ProcessInfo.processInfo.environment
        e["GST_PLUGIN_PATH"] = Self.build.path
        e["LD_LIBRARY_PATH"] = Self.libcapture.path
        e["GST_REGISTRY"] = directory + "/gst-registry.bin"
        e.removeValue(forKey: "LD_PRELOAD")
        return e
    }

    private func check(_ daemon: DaemonFixture, _ arguments: [String]) throws -> DrivenProgram {
        let program = Self.build.appendingPathComponent("check-capturesrc")
        guard FileManager.default.isExecutableFile(atPath: program.path) else {
            throw FixtureError("\(program.path) is missing: `make gstreamer` builds it (`make test` does)")
        }
        return try DrivenProgram("check-capturesrc", executable: program, arguments: arguments, environment: environment(daemon.directory))
    }

    private static let image = """

        [stream.sim0.format]
        pixel_format = "GRAY8"
        width = 640
        height = 480
        """

    func testBuffersAreTheRingsOwnReadOnlyMemoryIntactAndInOrder() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 640 * 480, rate: 500, payload: "image") + Self.image)
        let r = try check(daemon, ["verify", daemon.socketPath, "sim0", "300"]).result()
        XCTAssertEqual(r["frames"], "300", "\(r)")
        for key in ["corrupt", "out_of_order", "unreported", "discont_wrong", "outside_ring", "writable", "copied", "bad_size", "bad_pts"] {
            XCTAssertEqual(r[key], "0", "\(key): \(r)")
        }
        // Latest mode: the newest frames, checked before the hand-off, intact after it at this rate.
        let latest = try check(daemon, ["verify", daemon.socketPath, "sim0", "100", "0", "0", "latest"]).result()
        XCTAssertEqual(latest["frames"], "100", "\(latest)")
        for key in ["corrupt", "out_of_order", "outside_ring", "writable", "bad_size", "bad_pts"] {
            XCTAssertEqual(latest[key], "0", "latest \(key): \(latest)")
        }
    }

    /// Rows padded beyond GStreamer's stride, to a downstream without GstVideoMeta (appsink):
    /// the one case that copies, and the copy is the frame, row for row.
    func testPaddedRowsAreCopiedToGStreamersStrideForADownstreamWithoutVideoMeta() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 640 * 240, rate: 300, payload: "image") + """

            [stream.sim0.format]
            pixel_format = "GRAY8"
            width = 630
            height = 240
            stride = 640
            """)
        let r = try check(daemon, ["verify", daemon.socketPath, "sim0", "100"]).result()
        XCTAssertEqual(r["frames"], "100", "\(r)")
        XCTAssertEqual(r["copied"], "100", "\(r)")
        for key in ["corrupt", "bad_size", "bad_pts", "unreported", "discont_wrong"] { XCTAssertEqual(r[key], "0", "\(key): \(r)") }
    }

    /// A pipeline slower than the stream, holding at most 4 leases: frames are dropped, each gap
    /// was reported on the bus and its next buffer is DISCONT, and no other buffer is.
    func testDropsAreMarkedDiscontExactlyWhereReported() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 1000))
        let r = try check(daemon, ["verify", daemon.socketPath, "sim0", "100", "4", "10"]).result()
        XCTAssertEqual(r["frames"], "100", "\(r)")
        XCTAssertGreaterThan(Int(r["dropped"] ?? "") ?? 0, 0, "the slow pipeline should miss frames: \(r)")
        XCTAssertGreaterThan(Int(r["gaps"] ?? "") ?? 0, 0, "\(r)")
        for key in ["corrupt", "out_of_order", "unreported", "discont_wrong"] { XCTAssertEqual(r[key], "0", "\(key): \(r)") }
    }

    /// Buffers held downstream (appsink's queue, the application) hold leases; freed, frames flow.
    func testBuffersHeldDownstreamHoldTheirLeases() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 500, maxLeases: 32))
        let c = try check(daemon, ["hold", daemon.socketPath, "sim0", "8"])
        let line = try c.expect("holding")
        let pid = try XCTUnwrap(line.split(separator: "=").last.flatMap { Int32($0) }, line)
        let held = try XCTUnwrap(daemon.status().streams[0].clients.first { $0.pid == pid })
        XCTAssertGreaterThanOrEqual(held.leases, 8, "the 8 buffers the application holds are leases")
        c.send("release")
        let r = try c.result()
        XCTAssertEqual(r["frames"], "58", "\(r)")
        for key in ["corrupt", "unreported", "discont_wrong", "outside_ring"] { XCTAssertEqual(r[key], "0", "\(key): \(r)") }
    }

    func testThePipelineRidesOutADaemonRestart() throws {
        let first = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 200))
        let c = try check(first, ["verify", first.socketPath, "sim0", "600"])
        XCTAssertTrue(try first.eventually { try first.status().streams[0].clients.count == 1 })
        usleep(800_000)
        first.stop()
        let second = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 200), directory: first.directory)
        let r = try c.result(timeout: 60)
        XCTAssertEqual(r["frames"], "600", "\(r)")
        XCTAssertEqual(r["reconnects"], "1", "\(r)")
        for key in ["corrupt", "out_of_order", "unreported", "discont_wrong", "outside_ring"] { XCTAssertEqual(r[key], "0", "\(key): \(r)") }
        second.stop()
    }

    /// An image stream negotiates with videoconvert, rows padded beyond GStreamer's stride too
    /// (through GstVideoMeta).
    func testCapsNegotiateWithVideoconvert() throws {
        for (width, stride) in [(640, 640), (630, 640)] {
            let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: stride * 480, rate: 200, payload: "image") + """

                [stream.sim0.format]
                pixel_format = "GRAY8"
                width = \(width)
                height = 480
                stride = \(stride)
                """)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/gst-launch-1.0")
            p.arguments = ["-q", "capturesrc", "stream=sim0", "socket-path=\(daemon.socketPath)", "num-buffers=30", "!",
                           "videoconvert", "!", "video/x-raw,format=I420", "!", "fakesink"]
            p.environment = environment(daemon.directory)
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "width \(width), stride \(stride): \(output)")
        }
    }
}
