#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import Foundation
import XCTest

/// A real captured process on a private socket, for the service tests.
final class DaemonFixture {
    let directory: String
    let socketPath: String
    let configPath: String
    let logPath: String
    let process = Process()
    private let ownsDirectory: Bool

    /// The folder that holds captured, capturectl and capture-testclient next to the test bundle.
    static let binaries: URL = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }()

    /// Sanitizer builds run several times slower: `make test-tsan` runs the streams at a
    /// fraction of their rate (CAPTURE_TEST_RATE_SCALE) so what the tests promise about prompt
    /// clients still holds of clients that are prompt.
    static let rateScale = Double(ProcessInfo.processInfo.environment["CAPTURE_TEST_RATE_SCALE"] ?? "") ?? 1

    static func config(frameBytes: Int = 100_003, rate: Double = 2000, payload: String = "pattern", slots: Int = 48,
                       queueDepth: Int? = nil, maxLeases: Int = 32, lock: String = "required", daemon: String = "", access: String = "") -> String {
        """
        [daemon]
        \(daemon)
        \(daemon.contains("lease_timeout_ms") ? "" : "lease_timeout_ms = \(Int(5000 / rateScale))")
        [access]
        \(access)
        [stream.sim0]
        device = "synthetic"
        frame_bytes = \(frameBytes)
        frame_rate = \(rate * rateScale)
        payload = "\(payload)"
        \(queueDepth.map { "queue_depth = \($0)" } ?? "")
        max_leases = \(maxLeases)
        ring.slots = \(slots)
        ring.lock = "\(lock)"
        """
    }

    /// Writes `config`, starts captured (optionally behind `wrapper`, e.g. setpriv) and waits
    /// until it answers a status request.
    /// `directory`: run in another fixture's folder (same socket path), e.g. to restart.
    init(config: String, wrapper: [String] = [], waitForReady: Bool = true, directory reuse: String? = nil) throws {
        ownsDirectory = reuse == nil
        if let reuse {
            self.directory = reuse
        } else {
            var template = Array("/tmp/capture-test-XXXXXX".utf8CString)
            guard mkdtemp(&template) != nil else { throw SystemError("mkdtemp") }
            self.directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        chmod(directory, 0o777)
        socketPath = directory + "/capture.sock"
        configPath = directory + "/capture.toml"
        logPath = directory + "/captured.log"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let captured = DaemonFixture.binaries.appendingPathComponent("captured").path
        let arguments = ["--config", configPath, "--socket", socketPath]
        if wrapper.isEmpty {
            process.executableURL = URL(fileURLWithPath: captured)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: wrapper[0])
            process.arguments = Array(wrapper.dropFirst()) + [captured] + arguments
        }
        let log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        // Sanitizer builds (make test-asan/-tsan): the daemon reports into its log, which
        // `stop()` checks. XCTest's own allocations are not the daemon's business.
        var environment = ProcessInfo.processInfo.environment
        environment["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        environment["TSAN_OPTIONS"] = "halt_on_error=0:second_deadlock_stack=1"
        process.environment = environment
        try process.run()
        if waitForReady { try waitUntilReady() }
    }

    func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !process.isRunning { throw FixtureError("captured exited with \(process.terminationStatus):\n\(log)") }
            if (try? CaptureClient.status(socketPath: socketPath)) != nil { return }
            usleep(20_000)
        }
        throw FixtureError("captured did not become ready:\n\(log)")
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func status() throws -> StatusReport { try CaptureClient.status(socketPath: socketPath) }

    func connect(mode: ClientMode = .lease, maxLeases: Int = 0) throws -> CaptureClient {
        try CaptureClient.connect(stream: "sim0", mode: mode, maxLeases: maxLeases, socketPath: socketPath)
    }

    /// Waits for the daemon to exit by itself; returns its status.
    func waitForExit(seconds: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            if waitForExit(seconds: 10) == nil { kill(pid, SIGKILL); _ = waitForExit() }
        }
        for report in ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:"] where log.contains(report) {
            XCTFail("captured's sanitizer reported \(report):\n\(log)")
        }
    }

    deinit {
        stop()
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Polls `condition` for up to `seconds`.
    func eventually(seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs one of the built binaries (or any path) to completion: (exit status, stdout+stderr).
func runTool(_ path: String, _ arguments: [String], timeout: Double = 60) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path.hasPrefix("/") ? path : DaemonFixture.binaries.appendingPathComponent(path).path)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A raw protocol connection, for sending what the client library never would.
final class RawConnection {
    let socket: FileDescriptor

    init(_ path: String) throws {
        socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: path)
    }

    func send(_ bytes: [UInt8], fds: [FileDescriptor] = []) throws {
        _ = try UnixSocket.send(socket, bytes, passing: fds)
    }

    func send(_ message: Message) throws { try send(message.encode()) }

    /// The next message and the descriptors that came with it (they close when dropped).
    func receive(timeout: Double = 5) throws -> (Message?, [FileDescriptor], closed: Bool) {
        var p = pollfd(fd: socket.raw, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { throw FixtureError("no answer within \(timeout) s") }
        switch try MessageSocket.receive(socket, blocking: true) {
        case .message(let m, let fds): return (m, fds, false)
        case .invalid(let e, _): throw FixtureError("undecodable answer: \(e)")
        case .closed: return (nil, [], true)
        case .wouldBlock: return (nil, [], false)
        }
    }

    /// Expects an Error with `code`, then the connection closed by the daemon.
    func expectError(_ code: ErrorCode, file: StaticString = #filePath, line: UInt = #line) throws {
        let (message, _, _) = try receive()
        guard case .error(let got, let text)? = message else {
            return XCTFail("expected Error \(code), got \(String(describing: message))", file: file, line: line)
        }
        XCTAssertEqual(got, code, text, file: file, line: line)
        XCTAssertFalse(text.isEmpty, file: file, line: line)
        let (_, _, closed) = try receive()
        XCTAssertTrue(closed, "the daemon should close the connection after \(code)", file: file, line: line)
    }
}
