#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureRecording
import Foundation
import XCTest

/// capturectl record, recordings read back (Swift and Python), replay streams, and what a cut
/// recording (SIGKILL, a full filesystem) still holds.
final class RecordingTests: XCTestCase {
    static let picture = """

        [stream.sim0.format]
        pixel_format = "GRAY8"
        width = 320
        height = 240
        """

    private func imageDaemon(rate: Double = 200, extra: String = "") throws -> DaemonFixture {
        try DaemonFixture(config: DaemonFixture.config(frameBytes: 320 * 240, rate: rate, payload: "image", maxLeases: 32) + Self.picture + extra)
    }

    private func python(_ script: String) throws -> (Int32, String) {
        try runTool(DrivenProgram.repository.appendingPathComponent(".build-python/bin/python").path, ["-c", script])
    }

    func testARecordingReplaysAndReadsAsArrays() throws {
        let daemon = try imageDaemon()
        let path = daemon.directory + "/rec"
        let (status, output) = try runTool("capturectl", ["--socket", daemon.socketPath, "record", "sim0", path, "--frames", "200"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("recorded 200 frames"), output)

        let recording = try Recording(directory: path)
        XCTAssertEqual(recording.frames.count, 200)
        XCTAssertEqual(try recording.verify(), [], "every recorded frame matches the CRC-32 the device gave it")
        XCTAssertEqual(recording.end?.flags, IndexRecord.EndReason.finished.rawValue)
        XCTAssertEqual(recording.format, .image(pixelFormat: "GRAY8", width: 320, height: 240, stride: 320))
        let sequences = recording.frames.map(\.sequence)
        XCTAssertEqual(sequences, sequences.sorted(), "frames in order")

        // Python: one (N, 240, 320) array over the file's pages, read-only, intact, to HDF5.
        let (py, text) = try python("""
            import capture, numpy as np
            r = capture.Recording("\(path)")
            a = r.frames
            print("shape", a.shape, "writeable", a.flags.writeable, "shares", np.shares_memory(a, r._data), "bad", len(r.verify()))
            try:
                import h5py
                r.to_hdf5("\(path).h5")
                with h5py.File("\(path).h5") as h:
                    print("hdf5", h["frames"].shape, bool((h["frames"][17] == r[17]).all()))
            except ImportError:
                print("hdf5 skipped: no h5py")
            """)
        XCTAssertEqual(py, 0, text)
        XCTAssertTrue(text.contains("shape (200, 240, 320) writeable False shares True bad 0"), text)
        XCTAssertTrue(text.contains("hdf5 (200, 240, 320) True"), "HDF5 export (scripts/python-env installs h5py): \(text)")

        // Replayed next to the live stream: verified against the recorded checksums, looping.
        daemon.stop()
        let both = try DaemonFixture(config: DaemonFixture.config(frameBytes: 320 * 240, rate: 200, payload: "image") + Self.picture + """

            [stream.rec0]
            device = "replay:\(path)"
            frame_rate = 1000
            ring.slots = 16
            ring.lock = "best-effort"
            """)
        let (tail, tailOutput) = try runTool("capturectl", ["tail", "rec0", "--frames", "450", "--verify", "--socket", both.socketPath])
        XCTAssertEqual(tail, 0, tailOutput)
        XCTAssertTrue(tailOutput.contains("450 frames, 0 corrupt"), "a looping replay verifies (drops, if the disk stalls, are reported): \(tailOutput)")
        let (watch, screen) = try runTool("capturectl", ["watch", "--once", "--socket", both.socketPath])
        XCTAssertEqual(watch, 0, screen)
        XCTAssertTrue(screen.contains("sim0") && screen.contains("rec0") && screen.contains("replay:"), screen)
    }

    /// SIGKILL mid-recording: every frame the index names is intact; nothing more is claimed.
    func testARecordingCutBySigkillIsReadableUpToItsLastFrame() throws {
        let daemon = try imageDaemon(rate: 500)
        let path = daemon.directory + "/cut"
        let recorder = Process()
        recorder.executableURL = DaemonFixture.binaries.appendingPathComponent("capturectl")
        recorder.arguments = ["record", "sim0", path, "--socket", daemon.socketPath]
        try recorder.run()
        XCTAssertTrue(daemon.eventually(seconds: 10) { ((try? Recording(directory: path))?.frames.count ?? 0) > 100 })
        kill(recorder.processIdentifier, SIGKILL)
        recorder.waitUntilExit()
        let recording = try Recording(directory: path)
        XCTAssertNil(recording.end, "a killed recorder wrote no end record")
        XCTAssertGreaterThan(recording.frames.count, 100)
        XCTAssertEqual(try recording.verify(), [])
        let (py, text) = try python("""
            import capture
            r = capture.Recording("\(path)")
            print("frames", len(r), "bad", len(r.verify()), "ended", r.ended)
            """)
        XCTAssertEqual(py, 0, text)
        XCTAssertTrue(text.contains("bad 0 ended None"), text)
    }

    /// A filesystem that fills up: record says so and exits 1; the recording holds what fit.
    func testAFullFilesystemEndsTheRecordingCleanly() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let daemon = try imageDaemon(rate: 500)
        let mount = daemon.directory + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let (m, mountOutput) = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mount])
        XCTAssertEqual(m, 0, mountOutput)
        defer { _ = try? runTool("/bin/umount", [mount]) }
        let path = mount + "/rec"
        let (status, output) = try runTool("capturectl", ["record", "sim0", path, "--socket", daemon.socketPath], timeout: 30)
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("the disk is full"), output)
        let recording = try Recording(directory: path)
        XCTAssertGreaterThan(recording.frames.count, 10, "what fit is kept")
        XCTAssertEqual(recording.end?.flags, IndexRecord.EndReason.diskFull.rawValue)
        XCTAssertEqual(try recording.verify(), [])
    }

    /// capturectl as a new user types it: --socket before the subcommand, or CAPTURE_SOCKET.
    func testTheSocketCanBeGivenBeforeTheSubcommandOrInTheEnvironment() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let (before, output) = try runTool("capturectl", ["--socket", daemon.socketPath, "tail", "sim0", "--frames", "100", "--verify"])
        XCTAssertEqual(before, 0, output)
        XCTAssertTrue(output.contains("100 frames, 0 corrupt"), output)
        setenv("CAPTURE_SOCKET", daemon.socketPath, 1)
        defer { unsetenv("CAPTURE_SOCKET") }
        let (env, envOutput) = try runTool("capturectl", ["status"])
        XCTAssertEqual(env, 0, envOutput)
        XCTAssertTrue(envOutput.contains("stream sim0"), envOutput)
        let (help, helpOutput) = try runTool("capturectl", ["record", "--help"])
        XCTAssertEqual(help, 0)
        XCTAssertTrue(helpOutput.contains("Examples:"), helpOutput)
    }

    func testWatchSaysWhenTheDaemonIsNotThere() throws {
        let (status, screen) = try runTool("capturectl", ["watch", "--once", "--socket", "/nonexistent/capture.sock"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(screen.contains("not answering"), screen)
    }
}
