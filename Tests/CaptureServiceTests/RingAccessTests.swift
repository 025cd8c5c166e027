#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureSystem
import Foundation
import XCTest

final class RingAccessTests: XCTestCase {
    func testClientCannotWriteTheRingItReceives() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let raw = try RawConnection(daemon.socketPath)
        try raw.send(.hello(stream: "sim0", mode: .latest, maxLeases: 0))
        let (message, fds, _) = try raw.receive()
        guard case .welcome(let welcome)? = message, fds.count == 1 else { return XCTFail("no Welcome with a ring: \(String(describing: message))") }
        let memfd = fds[0]
        let size = Int(welcome.ringBytes)
        XCTAssertEqual(try memfd.size(), welcome.ringBytes)

        // The client's descriptor is its own read-only open file description of the ring.
        XCTAssertEqual(fcntl(memfd.raw, F_GETFL) & O_ACCMODE, O_RDONLY)
        // mmap(PROT_WRITE, MAP_SHARED) is refused.
        XCTAssertThrowsError(try Mapping(sharing: memfd, length: size, protection: [.read, .write])) {
            XCTAssertEqual(($0 as? SystemError)?.errno, EACCES)
        }
        // A read-only mapping cannot be upgraded with mprotect.
        let mapping = try Mapping(sharing: memfd, length: size, protection: .read)
        XCTAssertThrowsError(try mapping.protect([.read, .write])) {
            XCTAssertEqual(($0 as? SystemError)?.errno, EACCES)
        }
        // write(2) and resizing are refused too.
        var byte: UInt8 = 0
        XCTAssertEqual(pwrite(memfd.raw, &byte, 1, 8192), -1)
        XCTAssertEqual(errno, EBADF)
        XCTAssertEqual(ftruncate(memfd.raw, 0), -1)
        XCTAssertTrue(try Memfd.seals(memfd).isSuperset(of: .ring))
    }

    func testRingIsFullyResidentLockedAndGuardedInTheDaemon() throws {
        let daemon = try DaemonFixture(config: DaemonFixture.config())
        let stream = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertEqual(stream.lockedBytes, stream.ringBytes)
        XCTAssertEqual(stream.residentBytes, stream.ringBytes)
        XCTAssertTrue(stream.residencyGuard.state.hasPrefix("active"), stream.residencyGuard.state)
        XCTAssertEqual(stream.residencyGuard.faults, 0)

        // The kernel's own account of the daemon's mappings of the ring: one of them (the
        // daemon's own) is fully resident and VM_LOCKED ("lo"). smaps' Locked: is proportional
        // to sharing with the device's mapping, so the flag is the reliable witness.
        let smaps = try XCTUnwrap(readWholeFile("/proc/\(daemon.pid)/smaps"))
        var mappings: [(size: Int, rss: Int, locked: Bool)] = []
        var current: (size: Int, rss: Int, locked: Bool)?
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), line[..<dash].allSatisfy(\.isHexDigit) {
                if let c = current { mappings.append(c) }
                current = line.contains("memfd:capture-ring-sim0") ? (0, 0, false) : nil
                continue
            }
            guard current != nil else { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.first == "Size:" { current!.size = Int(parts[1]) ?? 0 }
            if parts.first == "Rss:" { current!.rss = Int(parts[1]) ?? 0 }
            if parts.first == "VmFlags:" { current!.locked = parts.contains("lo") }
        }
        if let c = current { mappings.append(c) }
        let ringKB = stream.ringBytes / 1024
        XCTAssertTrue(mappings.contains { $0.size == ringKB && $0.rss == ringKB && $0.locked }, "\(mappings)")
    }
}

extension RingAccessTests {
    /// A 2 MiB-hugepage ring end to end: reserves the pages (root only) and gives them back.
    func testHugepageRingDeliversVerifiedFrames() throws {
        let knob = "/proc/sys/vm/nr_hugepages"
        let original = readWholeFile(knob)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        try XCTSkipIf(getuid() != 0 || original.isEmpty, "needs root to reserve hugepages")
        let wanted = (Int(original) ?? 0) + 16
        try XCTSkipIf((try? "\(wanted)".write(toFile: knob, atomically: false, encoding: .utf8)) == nil, "cannot reserve hugepages here")
        defer { try? original.write(toFile: knob, atomically: false, encoding: .utf8) }
        let free = Int(readWholeFile("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        try XCTSkipIf(free < 13, "the kernel reserved only \(free) hugepages")

        var config = DaemonFixture.config(frameBytes: 1_000_000, rate: 1000, slots: 12, queueDepth: 4, maxLeases: 4)
        config += "\nring.hugepages = \"2M\"\n"
        let daemon = try DaemonFixture(config: config)
        let stream = try XCTUnwrap(daemon.status().streams.first)
        XCTAssertEqual(stream.hugepages, "2M")
        XCTAssertEqual(stream.slotBytes, 2 << 20)
        XCTAssertEqual(stream.ringBytes, 13 * (2 << 20))
        XCTAssertEqual(stream.lockedBytes, stream.ringBytes)
        XCTAssertEqual(stream.residentBytes, stream.ringBytes)
        let run = try LeaseRun(try daemon.connect(), count: 300)
        XCTAssertEqual(run.corrupt, [])
        XCTAssertEqual(run.unreportedGaps, 0)
    }
}

