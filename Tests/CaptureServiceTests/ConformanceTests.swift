#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import Foundation
import XCTest

/// One client library's conformance program, driven over its stdin and stdout. The same
/// scenarios are written once per library: Tests/capture-testclient/Conform.swift (Swift),
/// libcapture/tests/conform.c (C) and python/tests/conform.py (Python, on libcapture).
final class ConformClient {
    enum Language: String, CaseIterable { case swift, c, python }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    let language: Language
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []
    private(set) var lines: [String] = []

    init(_ language: Language, _ scenario: String, socket: String, stream: String = "sim0", count: Int = 100) throws {
        self.language = language
        let arguments = [scenario, socket, stream, String(count)]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "PYTHONPATH")
        switch language {
        case .swift:
            process.executableURL = DaemonFixture.binaries.appendingPathComponent("capture-testclient")
            process.arguments = ["conform"] + arguments
        case .c:
            let path = ConformClient.repository.appendingPathComponent("libcapture/build/conform")
            guard FileManager.default.isExecutableFile(atPath: path.path) else {
                throw FixtureError("\(path.path) is missing: `make libcapture` builds it (`make test` does)")
            }
            process.executableURL = path
            process.arguments = arguments
        case .python:
            // The package as `pip install ./python` installed it (scripts/python-env).
            let python = ConformClient.repository.appendingPathComponent(".build-python/bin/python")
            guard FileManager.default.isExecutableFile(atPath: python.path) else {
                throw FixtureError("\(python.path) is missing: `make python` installs the package there (`make test` does)")
            }
            process.executableURL = python
            process.arguments = [ConformClient.repository.appendingPathComponent("python/tests/conform.py").path] + arguments
        }
        // The C and Python programs are not built with the sanitizers the test bundle may be.
        environment.removeValue(forKey: "LD_PRELOAD")
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    /// The next line the program prints, or nil when it closed its output or `timeout` passed.
    func readLine(timeout: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                lines.append(line)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) == 1 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffered += chunk[..<n]
        }
    }

    /// Reads lines until one starts with `prefix`.
    func expect(_ prefix: String, timeout: Double = 30) throws -> String {
        while let line = readLine(timeout: timeout) {
            if line.hasPrefix(prefix) { return line }
        }
        throw FixtureError("\(language) never printed \(prefix); it printed:\n\(lines.joined(separator: "\n"))")
    }

    func send(_ command: String) {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
    }

    /// The `result key=value ...` line, as a dictionary, after the program exits.
    func result(timeout: Double = 60) throws -> [String: String] {
        let line = try expect("result", timeout: timeout)
        process.waitUntilExit()
        var fields: [String: String] = ["exit": String(process.terminationStatus)]
        for pair in line.dropFirst("result ".count).split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}

/// The Swift client, libcapture and the Python package behave alike: same frames, same checks,
/// same drop reports, same refusals, same end of life for leases and mappings.
final class ConformanceTests: XCTestCase {
    private func each(_ body: (ConformClient.Language) throws -> Void) rethrows {
        for language in ConformClient.Language.allCases { try body(language) }
    }

    private func assertClean(_ r: [String: String], _ language: ConformClient.Language, frames: Int,
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
        let clients = try ConformClient.Language.allCases.map { try ConformClient($0, "frames", socket: daemon.socketPath, count: 2000) }
        for c in clients { assertClean(try c.result(), c.language, frames: 2000) }
    }

    func testEveryClientGetsTheTestPictureIntact() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 640 * 480, rate: 200, payload: "image") + """

            [stream.sim0.format]
            pixel_format = "GRAY8"
            width = 640
            height = 480
            """)
        try each { assertClean(try ConformClient($0, "frames", socket: daemon.socketPath, count: 100).result(), $0, frames: 100) }
    }

    func testLatestModeFramesAreInOrder() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        try each { language in
            let r = try ConformClient(language, "latest", socket: daemon.socketPath, count: 300).result()
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
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 4000, slots: 4))
        try each { language in
            let r = try ConformClient(language, "torn", socket: daemon.socketPath, count: 50).result()
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
                let c = try ConformClient(language, "hold", socket: daemon.socketPath, count: 16)
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
        let clients = try ConformClient.Language.allCases.map { try ConformClient($0, "reconnect", socket: first.socketPath, count: 1200) }
        XCTAssertTrue(try first.eventually { try first.status().streams[0].clients.count == 3 })
        usleep(500_000)
        first.stop()
        let second = try DaemonFixture(config: DaemonFixture.config(rate: 400), directory: first.directory)
        for c in clients {
            let r = try c.result()
            assertClean(r, c.language, frames: 1200)
            XCTAssertEqual(r["reconnected"], "1", "\(c.language): \(r)")
        }
        second.stop()
    }

    /// A thread waiting for a frame is woken (C: capture_wakeup, blocking and busy-polling;
    /// Python: close() from another thread) long before the next frame.
    func testAWaitingThreadCanBeWokenOrClosed() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 0.1))
        for language in [ConformClient.Language.c, .python] {
            let r = try ConformClient(language, "wakeup", socket: daemon.socketPath).result(timeout: 20)
            XCTAssertEqual(r["woken"], r["of"], "\(language): \(r)")
        }
    }

    func testAnUnknownStreamIsRefusedWithItsReason() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        try each { language in
            let c = try ConformClient(language, "refused", socket: daemon.socketPath, stream: "nosuch")
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
        let clients = try ConformClient.Language.allCases.map { try ConformClient($0, "gone", socket: daemon.socketPath, count: 16) }
        for c in clients { _ = try c.expect("ready") }
        daemon.stop()
        for c in clients {
            c.send("check")
            let r = try c.result()
            XCTAssertEqual(r["intact"], "16", "\(c.language): \(r)")
            XCTAssertEqual(r["of"], "16", "\(c.language): \(r)")
        }
    }
}

/// What a C user does: install libcapture, build examples/c/consumer.c with pkg-config, run it
/// against the daemon named by CAPTURE_SOCKET.
final class CLibraryInstallTests: XCTestCase {
    func testTheExampleBuildsWithPkgConfigAfterInstallAndRuns() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 1000))
        let repository = ConformClient.repository.path
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
        XCTAssertTrue(output.contains("300 frames, 0 bad, 0 dropped"), output)
    }
}
