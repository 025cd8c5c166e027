#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureRing
import CaptureSystem
import Foundation
import Synchronization
import XCTest

/// What any local user who can open the socket may try, and what it must not cost the others:
/// a verifying client keeps getting every frame intact, and the device drops nothing.
final class HostileClientTests: XCTestCase {
    /// capture-testclient as uid/gid 65534, in the background.
    func hostile(_ arguments: [String], as uid: UInt32? = nil) throws -> (Process, Pipe) {
        let p = Process()
        let client = DaemonFixture.binaries.appendingPathComponent("capture-testclient").path
        if let uid {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", client] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: client)
            p.arguments = arguments
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        return (p, pipe)
    }

    func output(_ h: (Process, Pipe)) -> String {
        h.0.waitUntilExit()
        return String(decoding: h.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func testStatusFloodsCostTheStreamNothing() throws {
        // 96 ms of slack for the device, as the shipped sim0 has: starting six processes on two
        // cores may keep the daemon off a CPU for tens of milliseconds, attack or not.
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 1000, slots: 96, maxLeases: 64))
        let victim = try daemon.connect()
        _ = try LeaseRun(victim, count: 100)
        let before = try XCTUnwrap(daemon.status().streams.first)
        // Four clients each keeping 64 requests in flight, and two that never read the replies.
        var attackers = try (0..<4).map { _ in try hostile(["status-flood", daemon.socketPath, "64", "4"]) }
        attackers += try (0..<2).map { _ in try hostile(["status-flood", daemon.socketPath, "64", "4", "noread"]) }
        let run = try LeaseRun(victim, count: 3000)
        let texts = attackers.map(output)
        let after = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
        XCTAssertEqual(after.dropped - before.dropped, 0, "the device dropped frames during the flood; attackers: \(texts)")
        // The victim's own lease limit (64 frames, 64 ms) can be met only if six busy processes
        // keep it off both cores that long: the CPU, not the daemon, is what the attackers take.
        // (With 32, a host with 16% steal time met it in 1 run of 6.)
        XCTAssertEqual(run.dropped - run.droppedByReason[.leaseLimit, default: 0], 0, "\(run.droppedByReason)")
        XCTAssertLessThan(run.droppedByReason[.leaseLimit, default: 0], 30)
        XCTAssertTrue(texts[0].contains("replies read"), texts[0])
    }

    func testIdleConnectionsAreClosedAndNeverLockRootOut() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(daemon: "max_clients = 20\nmax_clients_per_uid = 6\nhello_timeout_ms = 1000"))
        chmod(daemon.socketPath, 0o666)
        let idle = try hostile(["idle", daemon.socketPath, "40", "2.5"], as: 65534)
        usleep(600_000)
        // While uid 65534 holds all it may, root is served.
        XCTAssertNoThrow(try daemon.status())
        let run = try LeaseRun(try daemon.connect(), count: 200)
        XCTAssertEqual(run.corrupt, [])
        let text = output(idle)
        XCTAssertTrue(text.contains("idle: 6 held, refused 34 too_many_clients"), text)
        XCTAssertTrue(text.contains("closed later 6 timed_out"), text)
        XCTAssertTrue(daemon.log.contains("too many clients of this uid"), daemon.log)

        // Root's own connections are limited apart from everyone else's, but limited.
        var mine: [RawConnection] = []
        for _ in 0..<20 { mine.append(try RawConnection(daemon.socketPath)) }
        try RawConnection(daemon.socketPath).expectError(.tooManyClients)
    }

    func testClientStringsCannotForgeLogLines() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        _ = output(try hostile(["inject", daemon.socketPath]))
        XCTAssertTrue(daemon.eventually { daemon.log.contains("unknown_stream") })
        let lines = daemon.log.split(separator: "\n")
        XCTAssertFalse(lines.contains { $0.hasPrefix("critical:") }, daemon.log)
        XCTAssertFalse(daemon.log.contains("\u{1b}"), "a raw escape reached the log")
        XCTAssertTrue(daemon.log.contains(#"x\ncritical: residency guard: page lost (forged)\u{1b}[31m"#), daemon.log)
    }

    /// A client that changes the flags and offset of the ring descriptor it got, and blocks its
    /// doorbell, disturbs neither the daemon's descriptor, nor another client's, nor the device.
    func testARingOrDoorbellInOneClientsHandsDisturbsNobodyElse() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 1000))
        let tamper = try hostile(["tamper", daemon.socketPath, "sim0", "3"])
        usleep(500_000)
        // The daemon's own descriptor of the ring: still read-write, offset 0, no O_APPEND.
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd")
        let ringFDs = fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.pid)/fd/\($0)"))?.contains("capture-ring-sim0") == true }
        XCTAssertFalse(ringFDs.isEmpty)
        for fd in ringFDs {
            let info = try XCTUnwrap(readWholeFile("/proc/\(daemon.pid)/fdinfo/\(fd)"))
            XCTAssertTrue(info.contains("pos:\t0\n"), info)
            let flags = Int32(info.split(separator: "\n").first { $0.hasPrefix("flags:") }!.split(separator: "\t")[1], radix: 8)!
            XCTAssertEqual(flags & O_APPEND, 0, info)
        }
        // The next client gets a fresh description: offset 0, read-only, flags its own.
        let raw = try RawConnection(daemon.socketPath)
        try raw.send(.hello(stream: "sim0", mode: .lease, maxLeases: 0))
        let (_, got, _) = try raw.receive()
        XCTAssertEqual(lseek(got[0].raw, 0, SEEK_CUR), 0)
        XCTAssertEqual(fcntl(got[0].raw, F_GETFL) & (O_APPEND | O_ACCMODE), O_RDONLY)
        // And the device was not made to wait on the doorbell at its maximum.
        let latest = try daemon.connect(mode: .latest)
        for _ in 0..<200 { XCTAssertEqual(try latest.nextFrame(timeout: .seconds(5)).check(), .intact) }
        let run = try LeaseRun(try daemon.connect(), count: 500)
        XCTAssertEqual(run.corrupt, [])
        let text = output(tamper)
        XCTAssertTrue(text.contains("tamper: ring flags") && text.contains("O_APPEND|O_NONBLOCK true, lseek true"), text)
    }

    /// A self-serve lease client that writes its whole holds page — every entry, on every frame
    /// in the ring and the next hundreds, refreshed each millisecond — and raises the page's
    /// `limit` holds no more than its max_leases: the device always finds a slot, and a
    /// verifying client beside it loses nothing.
    func testHoldsBeyondTheLimitHoldNothing() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 1000, slots: 24, maxLeases: 8))
        let raw = try RawConnection(daemon.socketPath)
        try raw.send(.hello(stream: "sim0", mode: .lease, maxLeases: 0, flags: .selfServe))
        let (welcome, fds, _) = try raw.receive()
        guard case .welcome(let w)? = welcome else { return XCTFail("no Welcome: \(String(describing: welcome))") }
        XCTAssertTrue(w.selfServe && fds.count == 3, "\(w), \(fds.count) descriptors")
        let ring = try RingReader(memfd: fds[0])
        let page = try HoldsPage(memfd: fds[2])
        XCTAssertEqual(page.limit, 8)
        (page.mapping.base + RingLayout.Holds.limit).storeBytes(of: UInt32(RingLayout.Holds.entries), as: UInt32.self)
        let before = try XCTUnwrap(daemon.status().streams.first)
        let stop = Atomic<Bool>(false)
        let hog = Thread {
            while !stop.load(ordering: .relaxed) {
                let head = ring.head.sequence
                for i in 0..<RingLayout.Holds.entries { page.set(i, head &+ UInt64(i) &- 24) }
                usleep(1000)
            }
        }
        hog.start()
        let run = try LeaseRun(try daemon.connect(), count: 1500)
        let after = try XCTUnwrap(daemon.status().streams.first)
        let hogStatus = try daemon.status().streams[0].clients.first { $0.id == w.clientID }
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
        XCTAssertEqual(after.dropped - before.dropped, 0, "the device found every slot held: it honoured more than 8 holds")
        XCTAssertEqual(run.droppedByReason[.deviceOverrun, default: 0], 0)
        XCTAssertLessThanOrEqual(hogStatus?.leases ?? 0, 8)
    }

    /// A self-serve client that takes frames and never gives them back is revoked after the
    /// lease timeout, like any lease client: told with LeaseRevoked, its holds void, its slots the
    /// device's again.
    func testSelfServedLeasesAreRevokedAfterTheTimeout() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 4096, rate: 1000, slots: 24, maxLeases: 4,
                                                                    daemon: "lease_timeout_ms = 300"))
        let client = try daemon.connect()
        var held: [Frame] = []
        var revoked = 0
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while revoked < 4 && monotonicNanoseconds() < deadline {
            switch try client.nextEvent(timeout: .seconds(2)) {
            case .frame(let f): held.append(f) // never released
            case .leaseRevoked: revoked += 1
            default: break
            }
        }
        XCTAssertGreaterThanOrEqual(held.count, 4)
        XCTAssertEqual(revoked, 4, "a self-served lease held past lease_timeout_ms is revoked")
        XCTAssertTrue(try daemon.eventually { try daemon.status().streams[0].clients.first?.revoked ?? 0 >= 4 })
        _ = held
    }

    /// A latest client that reads one message at a time after falling behind is told of the
    /// newest frame, not of every frame it missed.
    func testALatestClientBehindIsToldOnlyOfTheNewestFrame() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 1000))
        let raw = try RawConnection(daemon.socketPath)
        try raw.send(.hello(stream: "sim0", mode: .latest, maxLeases: 0))
        _ = try raw.receive()
        usleep(300_000) // 300 frames published meanwhile
        var announced: [UInt64] = []
        var p = pollfd(fd: raw.socket.raw, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) == 1, case .message(.frames(let entries), _) = try MessageSocket.receive(raw.socket, blocking: false) {
            announced += entries.map(\.sequence)
        }
        let head = try XCTUnwrap(daemon.status().streams.first).headSequence
        XCTAssertLessThanOrEqual(announced.count, 2, "stale announcements queued: \(announced)")
        // What arrives next is the newest frame as of when this client had read the last one.
        let (next, _, _) = try raw.receive()
        guard case .frames(let entries)? = next, let first = entries.first else { return XCTFail("\(String(describing: next))") }
        XCTAssertGreaterThanOrEqual(first.sequence + 5, head)
    }

    /// The device has every slot no client holds: the daemon may stall for longer than the old
    /// 8-slot queue lasted without the device losing a frame.
    func testTheDeviceRidesOutAStalledDaemon() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(rate: 500, slots: 48))
        let stream = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertGreaterThanOrEqual(stream.slotsQueued ?? 0, 46, "slack: every slot no client holds")
        let client = try daemon.connect()
        _ = try LeaseRun(client, count: 50)
        let before = try XCTUnwrap(daemon.status().streams.first).dropped
        for _ in 0..<5 {
            kill(daemon.pid, SIGSTOP)
            usleep(50_000) // 25 frame times; the old queue of 8 lasted 16 ms at this rate
            kill(daemon.pid, SIGCONT)
            let run = try LeaseRun(client, count: 100)
            XCTAssertEqual(run.corrupt, [])
            XCTAssertEqual(run.unreportedGaps, 0)
        }
        XCTAssertEqual(try XCTUnwrap(daemon.status().streams.first).dropped, before)
    }
}
