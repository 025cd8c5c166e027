#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import Foundation
import XCTest

final class BadInputTests: XCTestCase {
    func testEveryBadMessageGetsAnErrorAndTheDaemonServesEveryoneElse() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let bystander = try daemon.connect()
        let hello = Message.hello(stream: "sim0", mode: .lease, maxLeases: 0).encode()

        var c = try RawConnection(daemon.socketPath)
        try c.send([1, 0, 1])
        try c.expectError(.malformed)

        c = try RawConnection(daemon.socketPath)
        var v9 = hello; v9[2] = 9
        try c.send(v9)
        try c.expectError(.unsupportedVersion)

        c = try RawConnection(daemon.socketPath)
        var unknown = hello; unknown[0] = 77
        try c.send(unknown)
        try c.expectError(.unknownMessage)

        c = try RawConnection(daemon.socketPath)
        try c.send([UInt8](repeating: 0, count: 70_000))
        try c.expectError(.tooLarge)

        c = try RawConnection(daemon.socketPath)
        try c.send(Array(hello.dropLast(2))) // truncated: the header promises 2 more bytes
        try c.expectError(.malformed)

        c = try RawConnection(daemon.socketPath)
        try c.send(.hello(stream: "nope", mode: .lease, maxLeases: 0))
        try c.expectError(.unknownStream)

        c = try RawConnection(daemon.socketPath)
        try c.send(.release([FrameEntry(slot: 0, sequence: 1)]))
        try c.expectError(.badState)

        c = try RawConnection(daemon.socketPath)
        try c.send(.welcome(Welcome(clientID: 1, mode: .lease, maxLeases: 1, leaseTimeoutMilliseconds: 1, ringBytes: 1, headSequence: 0)))
        try c.expectError(.badState)

        // A release of something never leased is answered but not fatal.
        c = try RawConnection(daemon.socketPath)
        try c.send(hello)
        _ = try c.receive()
        try c.send(.release([FrameEntry(slot: 1, sequence: 999_999_999)]))
        var notice = false
        for _ in 0..<50 {
            if case .error(let code, _)? = try c.receive().0 { XCTAssertEqual(code, .notLeased); notice = true; break }
        }
        XCTAssertTrue(notice)

        let run = try LeaseRun(bystander, count: 500)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
        XCTAssertTrue(daemon.log.contains("client error"), daemon.log)
    }

    func testDescriptorsFromAClientAreClosedNotKept() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let (readEnd, writeEnd) = try UnixPipe.make()
        let c = try RawConnection(daemon.socketPath)
        try c.send(Message.hello(stream: "sim0", mode: .lease, maxLeases: 0).encode(), fds: [writeEnd])
        writeEnd.close()
        try c.expectError(.descriptorsRefused)
        // Once the daemon has closed its copy, nobody holds the write end: the read end sees EOF.
        var p = pollfd(fd: readEnd.raw, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&p, 1, 2000), 1)
        var byte: UInt8 = 0
        XCTAssertEqual(read(readEnd.raw, &byte, 1), 0, "the daemon kept the client's descriptor")
    }

    func testDescriptorCountIsTheSameAfterAThousandClients() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 500))
        func descriptors() -> Int { openDescriptorCount(pid: daemon.pid) ?? -1 }
        /// The count once the daemon has finished closing connections (e.g. the readiness probe's).
        func settled() -> Int {
            var last = descriptors()
            for _ in 0..<100 {
                usleep(100_000)
                let now = descriptors()
                if now == last { return now }
                last = now
            }
            return last
        }
        let before = settled()
        XCTAssertGreaterThan(before, 0)
        for i in 0..<1000 {
            let c = try RawConnection(daemon.socketPath)
            if i % 2 == 0 {
                try c.send(.hello(stream: "sim0", mode: i % 4 == 0 ? .lease : .latest, maxLeases: 0))
                let (message, _, _) = try c.receive()
                guard case .welcome? = message else { return XCTFail("no Welcome: \(String(describing: message))") }
            }
        }
        XCTAssertEqual(settled(), before)
        XCTAssertEqual(try daemon.status().streams[0].slotsLeased, 0)
    }

    func testAllowListRefusesOtherUsers() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(access: "allow_uids = [4242]"))
        chmod(daemon.socketPath, 0o666) // so the socket's mode is not what stops them
        let (refused, text) = try runTool("capture-testclient", ["connect-as", "65534", daemon.socketPath, "sim0"])
        XCTAssertEqual(refused, 3, text)
        XCTAssertTrue(text.contains("not permitted"), text)
        let (allowed, text2) = try runTool("capture-testclient", ["connect-as", "4242", daemon.socketPath, "sim0"])
        XCTAssertEqual(allowed, 0, text2)
        XCTAssertTrue(daemon.log.contains("not in the allow-list"))
    }

    func testConfigErrorsNameFileLineAndKeyAndExitNonZero() throws {
        let dir = NSTemporaryDirectory() + "capture-config-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.toml"
        try "[stream.sim0]\nframe_bytes = 4096\nframe_rate = \"fast\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try runTool("captured", ["--config", path, "--socket", dir + "/s"])
        XCTAssertEqual(status, 78)
        XCTAssertTrue(output.contains("\(path):3: stream.sim0.frame_rate: expected a number, found a string"), output)
    }

    func testAMissingKernelDeviceIsAClearStartupError() throws {
        let config = """
            [stream.cam0]
            device = "/dev/capture-not-here"
            frame_bytes = 4096
            ring.slots = 16
            """
        let daemon = try DaemonFixture(config: config, waitForReady: false)
        XCTAssertEqual(daemon.waitForExit(), 1, daemon.log)
        XCTAssertTrue(daemon.log.contains("open(/dev/capture-not-here) failed") && daemon.log.contains("modprobe capture_dma"), daemon.log)
    }

    func testMemlockTooLowRefusesToStartWithTheNumbers() throws {
        let wrapper = ["/usr/bin/prlimit", "--memlock=1048576", "--", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let daemon = try DaemonFixture(config: DaemonFixture.config(lock: "required"), wrapper: wrapper, waitForReady: false)
        XCTAssertEqual(daemon.waitForExit(), 1, daemon.log)
        let log = daemon.log
        XCTAssertTrue(log.contains("LimitMEMLOCK=infinity") && log.contains("CAP_IPC_LOCK"), log)
        XCTAssertTrue(log.contains("RLIMIT_MEMLOCK is 1048576 bytes"), log)
        XCTAssertTrue(log.contains("ring of 4923392 bytes"), log)
    }

    func testBestEffortLockingRunsUnprivilegedAndShowsWhatIsLocked() throws {
        let wrapper = ["/usr/bin/prlimit", "--memlock=1048576", "--", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let daemon = try DaemonFixture(config: DaemonFixture.config(lock: "best-effort"), wrapper: wrapper)
        chmod(daemon.socketPath, 0o666)
        let stream = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertLessThan(stream.lockedBytes, stream.ringBytes)
        XCTAssertGreaterThan(stream.lockedBytes, 0)
        XCTAssertEqual(daemon.log.components(separatedBy: "RLIMIT_MEMLOCK").count - 1, 1, "warn once: \(daemon.log)")
        let run = try LeaseRun(try daemon.connect(), count: 300)
        XCTAssertEqual(run.corrupt, [])
    }
}
