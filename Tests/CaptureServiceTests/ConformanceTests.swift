#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import Foundation
import XCTest

/// The conformance scenarios, written once per client library: Tests/capture-testclient/Conform.swift
/// (Swift), libcapture/tests/conform.c (C) and python/tests/conform.py (Python, on libcapture).
enum Conform {
    enum Language: String, CaseIterable { case swift, c, python }

    static func start(_ language: Language, _ scenario: String, socket: String, stream: String = "sim0", count: Int = 100) throws -> DrivenProgram {
        let arguments = [scenario, socket, stream, String(count)]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "PYTHONPATH")
        // The C and Python programs are not built with the sanitizers the test bundle may be.
        environment.removeValue(forKey: "LD_PRELOAD")
        let repository = DrivenProgram.repository
        switch language {
        case .swift:
            return try DrivenProgram("swift", executable: DaemonFixture.binaries.appendingPathComponent("capture-testclient"),
                                     arguments: ["conform"] + arguments, environment: environment)
        case .c:
            let path = repository.appendingPathComponent("libcapture/build/conform")
            guard FileManager.default.isExecutableFile(atPath: path.path) else {
                throw FixtureError("\(path.path) is missing: `make libcapture` builds it (`make test` does)")
            }
            return try DrivenProgram("c", executable: path, arguments: arguments, environment: environment)
        case .python:
            // The package as `pip install ./python` installed it (scripts/python-env).
            let python = repository.appendingPathComponent(".build-python/bin/python")
            guard FileManager.default.isExecutableFile(atPath: python.path) else {
                throw FixtureError("\(python.path) is missing: `make python` installs the package there (`make test` does)")
            }
            return try DrivenProgram("python", executable: python,
                                     arguments: [repository.appendingPathComponent("python/tests/conform.py").path] + arguments, environment: environment)
        }
    }
}

/// The Swift client, libcapture and the Python package behave alike: same frames, same checks,
/// same drop reports, same refusals, same end of life for leases and mappings.
final class ConformanceTests: XCTestCase {
    private func each(_ body: (Conform.Language) throws -> Void) rethrows {
        for language in Conform.Language.allCases { try body(language) }
    }

    private func assertClean(_ r: [String: String], _ language: String, frames: Int,
                             file: StaticString = #filePath, line: UInt = #line) {
        let context = "\(language): \(r)"
        XCTAssertEqual(r["exit"], "0", context, file: file, line: line)
        XCTAssertEqual(r["error"], "0", context, file: file, line: line)
        XCTAssertEqual(r["frames"], String(frames), context, file: file, line: line)
        XCTAssertEqual(r["corrupt"], "0", context, file: file, line: line)
        XCTAssertEqual(r["out_of_order"], "0", context, file: file, line: line)
        XCTAssertEqual(r["gaps"], "0", "a gap nobody reported: \(context)", file: file, line: line)
    }

    /// All three at once on one stream, leasing every frame: intact, in order, gaps reported.
    func testEveryClientGetsIntactFramesInOrder() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let clients = try Conform.Language.allCases.map { try Conform.start($0, "frames", socket: daemon.socketPath, count: 2000) }
        for c in clients { assertClean(try c.result(), c.name, frames: 2000) }
    }

    /// A lease client off the CPU for longer than the ring lasts (300 ms; 32 slots last 32 ms
    /// at 1,000 frames/s): the device reuses every slot the client does not hold. Back, the
    /// client gets intact frames in order, and is told of every frame it missed, none silently.
    func testAClientStalledLongerThanTheRingIsToldOfEveryFrameItMissed() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 1000, slots: 32, maxLeases: 8))
        try each { language in
            let r = try Conform.start(language, "stall", socket: daemon.socketPath, count: 300).result()
            assertClean(r, language.rawValue, frames: 300)
            // About 300 frames are published in the stall (fewer under a sanitizer's rate
            // scale) and the ring keeps at most 32 of them.
            XCTAssertGreaterThan(Int(r["dropped"] ?? "") ?? 0, Int(300 * DaemonFixture.rateScale) / 4, "\(language) missed frames in its stall: \(r)")
        }
    }

    func testEveryClientGetsTheTestPictureIntact() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 640 * 480, rate: 200, payload: "image") + """

            [stream.sim0.format]
            pixel_format = "GRAY8"
            width = 640
            height = 480
            """)
        try each { assertClean(try Conform.start($0, "frames", socket: daemon.socketPath, count: 100).result(), $0.rawValue, frames: 100) }
    }

    func testLatestModeFramesAreInOrder() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        try each { language in
            let r = try Conform.start(language, "latest", socket: daemon.socketPath, count: 300).result()
            XCTAssertEqual(r["exit"], "0", "\(language): \(r)")
            XCTAssertEqual(r["frames"], "300", "\(language): \(r)")
            XCTAssertEqual(r["corrupt"], "0", "\(language): \(r)")
            XCTAssertEqual(r["out_of_order"], "0", "\(language): \(r)")
        }
    }

    /// A latest-mode reader that is slower than a tiny ring: the device writes over the slot
    /// while the client reads it, and every library says "overwritten", never "intact" and
    /// never a payload error.
    func testAFrameOverwrittenWhileReadIsReportedAsOverwritten() throws {
        // 4,000 frames/s whatever the sanitizer's rate scale: the clients hold each frame for a
        // fixed time, and only a device that fast laps them in a 4-slot ring.
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 4000 / DaemonFixture.rateScale, slots: 4))
        try each { language in
            let r = try Conform.start(language, "torn", socket: daemon.socketPath, count: 50).result()
            XCTAssertEqual(r["exit"], "0", "\(language): \(r)")
            XCTAssertEqual(r["corrupt"], "0", "\(language): \(r)")
            XCTAssertGreaterThan(Int(r["overwritten"] ?? "") ?? 0, 10, "\(language) should see the ring lap it: \(r)")
        }
    }

    /// Leases end when released, when the client closes and when it is killed. The stream lets
    /// a client hold 16 frames: holding them, it gets no more (lease-limit drops); released,
    /// frames flow to it again; closed or killed, nothing of it stays leased.
    func testLeasesEndOnReleaseCloseAndKill() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 500, maxLeases: 16))
        func client(_ pid: Int32) throws -> StatusReport.Client? {
            try daemon.status().streams[0].clients.first { $0.pid == pid }
        }
        try each { language in
            for ending in ["release", "close", "kill"] {
                let c = try Conform.start(language, "hold", socket: daemon.socketPath, count: 16)
                XCTAssertEqual(try c.expect("holding"), "holding 16", "\(language)")
                _ = try c.expect("ready")
                let pid = c.process.processIdentifier
                XCTAssertTrue(try daemon.eventually { try client(pid)?.dropped ?? 0 > 0 }, "\(language) at its limit misses frames")
                let held = try XCTUnwrap(client(pid), "\(language)")
                XCTAssertEqual(held.leases, 16, "\(language) holds 16 leases")
                switch ending {
                case "release":
                    c.send("release")
                    _ = try c.expect("released")
                    XCTAssertTrue(try daemon.eventually { try client(pid)?.delivered ?? 0 > held.delivered },
                                  "\(language): released, frames should flow to it again")
                    c.send("close")
                case "close":
                    c.send("close")
                    _ = try c.expect("closed")
                default:
                    kill(pid, SIGKILL)
                }
                c.process.waitUntilExit()
                XCTAssertTrue(try daemon.eventually { try client(pid) == nil }, "\(language) after \(ending): still connected")
                XCTAssertTrue(try daemon.eventually { try daemon.status().streams[0].slotsLeased == 0 },
                              "\(language) after \(ending): slots still leased")
            }
        }
    }

    func testEveryClientRidesOutADaemonRestart() throws {
        let first = try DaemonFixture(config: DaemonFixture.config(rate: 400))
        let clients = try Conform.Language.allCases.map { try Conform.start($0, "reconnect", socket: first.socketPath, count: 1200) }
        XCTAssertTrue(try first.eventually { try first.status().streams[0].clients.count == 3 })
        usleep(500_000)
        first.stop()
        let second = try DaemonFixture(config: DaemonFixture.config(rate: 400), directory: first.directory)
        for c in clients {
            let r = try c.result()
            assertClean(r, c.name, frames: 1200)
            XCTAssertEqual(r["reconnected"], "1", "\(c.name): \(r)")
        }
        second.stop()
    }

    /// A thread waiting for a frame is woken (C: capture_wakeup, blocking and busy-polling;
    /// Python: close() from another thread) long before the next frame.
    func testAWaitingThreadCanBeWokenOrClosed() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 0.1))
        for language in [Conform.Language.c, .python] {
            let r = try Conform.start(language, "wakeup", socket: daemon.socketPath).result(timeout: 20)
            XCTAssertEqual(r["woken"], r["of"], "\(language): \(r)")
        }
    }

    /// libcapture in the caller's event loop (poll capture_fd, capture_dispatch, one batch with
    /// timeout 0, poll again), as GLib and epoll users drive it: the device keeps ringing a
    /// self-serve client that took frames in dispatch, and every frame arrives intact, in order.
    func testAnEventLoopClientIsWokenForEveryFrame() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 1000, slots: 64, maxLeases: 32))
        let r = try Conform.start(.c, "event-loop", socket: daemon.socketPath, count: 2000).result(timeout: 30)
        XCTAssertEqual(r["silent"], "0", "the client sat in poll() for 2 s while frames were published: \(r)")
        assertClean(r, "c", frames: 2000)
    }

    func testAnUnknownStreamIsRefusedWithItsReason() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        try each { language in
            let c = try Conform.start(language, "refused", socket: daemon.socketPath, stream: "nosuch")
            let r = try c.result()
            XCTAssertEqual(r["refused"], "1", "\(language): \(r)")
            XCTAssertEqual(r["exit"], "0", "\(language): \(r)")
            XCTAssertTrue(c.lines.last?.contains("nosuch") ?? false, "the refusal names the stream: \(c.lines)")
        }
    }

    /// Frames a client holds stay mapped and intact after the daemon stops.
    func testHeldFramesStayReadableAfterTheDaemonStops() throws {
        // Leases are not revoked while the three programs start (Python takes a while), and
        // three clients holding their limit leave the device slots to fill.
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 500, slots: 64, maxLeases: 16, daemon: "lease_timeout_ms = 60000"))
        let clients = try Conform.Language.allCases.map { try Conform.start($0, "gone", socket: daemon.socketPath, count: 16) }
        for c in clients { _ = try c.expect("ready") }
        daemon.stop()
        for c in clients {
            c.send("check")
            let r = try c.result()
            XCTAssertEqual(r["intact"], "16", "\(c.name): \(r)")
            XCTAssertEqual(r["of"], "16", "\(c.name): \(r)")
        }
    }
}

/// What a C user does: install libcapture, build examples/c/consumer.c with pkg-config, run it
/// against the daemon named by CAPTURE_SOCKET.
final class CLibraryInstallTests: XCTestCase {
    func testTheExampleBuildsWithPkgConfigAfterInstallAndRuns() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 1000))
        let repository = DrivenProgram.repository.path
        let prefix = daemon.directory + "/prefix"
        let script = """
            set -e
            make -s -C '\(repository)/libcapture' install PREFIX='\(prefix)' BUILD='\(daemon.directory)/build' >/dev/null
            export PKG_CONFIG_PATH='\(prefix)/lib/pkgconfig'
            cc -std=c11 -Wall -Werror -o '\(daemon.directory)/consumer' '\(repository)/examples/c/consumer.c' $(pkg-config --cflags --libs capture)
            CAPTURE_SOCKET='\(daemon.socketPath)' LD_LIBRARY_PATH='\(prefix)/lib' '\(daemon.directory)/consumer' sim0 300
            """
        let (status, output) = try runTool("/bin/sh", ["-c", script], timeout: 120)
        XCTAssertEqual(status, 0, output)
        // Drops (a stalled CPU) are reported in the summary; bad frames never.
        XCTAssertTrue(output.contains("300 frames, 0 bad, "), output)
    }
}
