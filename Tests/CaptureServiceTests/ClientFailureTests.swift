#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import Foundation
import XCTest

final class ClientFailureTests: XCTestCase {
    func testSigkilledClientsLeasesComeBackAtOnce() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(maxLeases: 6))
        let holder = Process()
        holder.executableURL = DaemonFixture.binaries.appendingPathComponent("capture-testclient")
        holder.arguments = ["hold", daemon.socketPath, "sim0"]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        let line = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertEqual(line, "holding 6\n")

        let before = try XCTUnwrap(daemon.status().streams.first)
        let held = try XCTUnwrap(before.clients.first { $0.pid == holder.processIdentifier })
        XCTAssertEqual(held.leases, 6)
        XCTAssertGreaterThanOrEqual(before.slotsLeased, 6)

        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        XCTAssertTrue(try daemon.eventually { try daemon.status().streams[0].slotsLeased == 0 }, daemon.log)
        XCTAssertTrue(try daemon.status().streams[0].clients.isEmpty)
        XCTAssertTrue(daemon.log.contains("leases_returned=6"), daemon.log)

        // And the stream carries on for the next client.
        let run = try LeaseRun(try daemon.connect(), count: 200)
        XCTAssertEqual(run.corrupt, [])
    }

    func testClientReconnectsWhenTheDaemonRestarts() throws {
        let first = try DaemonFixture(config: DaemonFixture.config())
        let client = try CaptureClient.connect(stream: "sim0", socketPath: first.socketPath, reconnect: .seconds(20))
        let kept = try client.nextFrame(timeout: .seconds(10)) // held across the restart, never released
        _ = try LeaseRun(client, count: 50)
        first.stop()
        let second = try DaemonFixture(config: DaemonFixture.config(), directory: first.directory)
        var reconnected = false
        var after = 0
        while after < 100 {
            switch try client.nextEvent(timeout: .seconds(20)) {
            case .reconnected: reconnected = true
            case .frame(let f):
                if reconnected {
                    XCTAssertEqual(f.check(), .intact)
                    try client.release(f)
                    after += 1
                }
            default: break
            }
        }
        XCTAssertTrue(reconnected)
        XCTAssertEqual(client.statistics.reconnects, 1)
        XCTAssertEqual(kept.check(), .intact, "a frame from before the restart stays readable")
        XCTAssertEqual(try second.status().streams[0].clients.count, 1)
    }

    /// A client holds every slot, so the device waits for one; then the daemon stops. The
    /// leases the stop returns must not be filled again: the client still reads those frames.
    func testFramesHeldWhenTheDaemonStopsAreNeverRewritten() throws {
        for _ in 0..<3 {
            let daemon = try DaemonFixture(config: DaemonFixture.config(frameBytes: 65536, rate: 0, slots: 8, maxLeases: 8))
            let client = try daemon.connect()
            var held: [Frame] = []
            while held.count < 8 { held.append(try client.nextFrame(timeout: .seconds(10))) }
            daemon.stop()
            XCTAssertEqual(held.map { $0.check() }, Array(repeating: .intact, count: 8))
        }
    }

    func testLeasesHeldForeverAreRevokedAndTheClientIsTold() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(maxLeases: 4, daemon: "lease_timeout_ms = 200"))
        let client = try daemon.connect()
        var revoked: [UInt64] = []
        var held: [UInt64] = []
        let deadline = Date().addingTimeInterval(3)
        while revoked.count < 4 && Date() < deadline {
            switch try client.nextEvent(timeout: .seconds(2)) {
            case .frame(let f): held.append(f.sequence) // never released
            case .leaseRevoked(let seq, _): revoked.append(seq)
            default: break
            }
        }
        XCTAssertEqual(revoked, Array(held.prefix(4)), "the oldest leases are revoked, and named")
        let status = try XCTUnwrap(daemon.status().streams[0].clients.first)
        XCTAssertGreaterThanOrEqual(status.revoked, 4)
        XCTAssertTrue(daemon.log.contains("leases revoked"), daemon.log)
    }

    func testClientThatNeverReadsIsEvictedWhileOthersCarryOn() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config(daemon: "client_timeout_ms = 500"))
        let deaf = try RawConnection(daemon.socketPath)
        try deaf.send(.hello(stream: "sim0", mode: .latest, maxLeases: 0)) // and never reads again
        let other = try daemon.connect()
        let run = try LeaseRun(other, count: 3000)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
        XCTAssertTrue(daemon.log.contains("client evicted"), daemon.log)
        XCTAssertEqual(try daemon.status().streams[0].clients.count, 1)
    }
}
