#if canImport(Glibc)
import Glibc
#endif
import CaptureDevice
import CaptureRing
import CaptureSystem
import XCTest

final class RingTests: XCTestCase {
    func makeRing(slots: Int = 8, frameBytes: Int = 100_003) throws -> Ring {
        let geometry = RingGeometry(slotCount: slots, frameBytes: frameBytes, pageBytes: systemPageSize)
        return try Ring.create(stream: "test", geometry: geometry, hugePage: nil, lock: .required, payloadFormat: .pattern)
    }

    func testNoFrameSharesAPageWithAnother() {
        let g = RingGeometry(slotCount: 5, frameBytes: 1_000_000, pageBytes: 4096)
        XCTAssertEqual(g.slotStride, 1_003_520)
        for slot in 0..<5 {
            XCTAssertEqual(g.slotOffset(slot) % 4096, 0)
            XCTAssertGreaterThanOrEqual(g.slotOffset(slot), g.descriptorsOffset + 5 * RingLayout.descriptorBytes)
        }
        XCTAssertEqual(g.ringBytes, g.slotOffset(4) + g.slotStride)
    }

    func testSealedRingRefusesEveryWayToWrite() throws {
        let ring = try makeRing()
        try ring.seal()
        XCTAssertTrue(try Memfd.seals(ring.memfd).isSuperset(of: Memfd.Seals.ring))

        // A writable shared mapping, write(2), resizing: all refused.
        XCTAssertThrowsError(try Mapping(sharing: ring.memfd, length: ring.geometry.ringBytes, protection: [.read, .write])) {
            XCTAssertEqual(($0 as? SystemError)?.errno, EPERM)
        }
        var byte: UInt8 = 1
        XCTAssertEqual(pwrite(ring.memfd.raw, &byte, 1, 0), -1)
        XCTAssertEqual(ftruncate(ring.memfd.raw, 4096), -1)
        XCTAssertEqual(ftruncate(ring.memfd.raw, off_t(ring.geometry.ringBytes * 2)), -1)

        // A read-only mapping cannot be made writable later.
        let readOnly = try Mapping(sharing: ring.memfd, length: ring.geometry.ringBytes, protection: .read)
        XCTAssertThrowsError(try readOnly.protect([.read, .write]))

        // The daemon's own mapping, made before the seal, still writes.
        ring.mapping.base.storeBytes(of: 7, toByteOffset: ring.geometry.slotOffset(0), as: UInt8.self)
        XCTAssertEqual(readOnly.base.load(fromByteOffset: ring.geometry.slotOffset(0), as: UInt8.self), 7)
    }

    func testRingIsResidentAndLockedBeforeUse() throws {
        let ring = try makeRing()
        XCTAssertEqual(ring.lockedBytes, ring.geometry.ringBytes)
        XCTAssertEqual(try ring.residentBytes(), ring.geometry.ringBytes)
        XCTAssertEqual(lockedKilobytes(of: ring.mapping), ring.geometry.ringBytes / 1024)
    }

    func testReaderSeesHeaderAndDetectsOverwrite() throws {
        let ring = try makeRing()
        ring.descriptor(3).beginFill()
        let payload = UnsafeMutableRawBufferPointer(start: ring.mapping.base + ring.geometry.slotOffset(3), count: 100_003)
        let crc = FramePattern.fill(payload, sequence: 42)
        ring.descriptor(3).publish(sequence: 42, length: 100_003, timestamp: 1, flags: .checksum, checksum: crc)
        try ring.seal()

        let reader = try RingReader(memfd: ring.memfd)
        XCTAssertEqual(reader.geometry, ring.geometry)
        XCTAssertEqual(reader.stream, "test")
        let snap = reader.descriptor(3).snapshot()
        XCTAssertEqual(snap.sequence, 42)
        XCTAssertEqual(FramePattern.crc32(reader.payload(slot: 3, length: Int(snap.length))), snap.checksum)
        XCTAssertTrue(reader.descriptor(3).stillIntact(snap))

        ring.descriptor(3).beginFill() // the daemon reclaims the slot for the next frame
        XCTAssertFalse(reader.descriptor(3).stillIntact(snap))
        ring.descriptor(3).publish(sequence: 50, length: 10, timestamp: 2, flags: [], checksum: 0)
        XCTAssertFalse(reader.descriptor(3).stillIntact(snap), "a refilled slot must never look like the old frame")
    }

    /// A holder that finds the device's mark on its frame's slot (the device about to see the
    /// hold and give the slot back) waits for the outcome instead of calling the frame
    /// overwritten; a slot the device goes on to fill is overwritten (PROTOCOL.md §5.2).
    func testAHolderWaitsForTheDevicesDecisionAboutAMarkedSlot() throws {
        let ring = try makeRing()
        ring.descriptor(3).beginFill()
        ring.descriptor(3).publish(sequence: 42, length: 10, timestamp: 1, flags: [], checksum: 0)
        let reader = try RingReader(memfd: ring.memfd)
        let seen = reader.descriptor(3).snapshot()
        nonisolated(unsafe) let device = ring.descriptor(3)

        device.beginFill() // the mark; the device has yet to look at the holds
        XCTAssertFalse(reader.descriptor(3).stillIntact(seen))
        let givesBack = Thread { usleep(20_000); device.abandonFill(restoring: seen.generation) }
        givesBack.start()
        XCTAssertEqual(reader.descriptor(3).awaitDecision(after: seen.generation), seen.generation, "the hold was seen: the frame is as it was")
        XCTAssertTrue(reader.descriptor(3).stillIntact(seen))

        device.beginFill()
        let fills = Thread { usleep(20_000); device.publish(sequence: 50, length: 10, timestamp: 2, flags: [], checksum: 0) }
        fills.start()
        XCTAssertEqual(reader.descriptor(3).awaitDecision(after: seen.generation), seen.generation + 2, "no hold: the slot was refilled")
        XCTAssertFalse(reader.descriptor(3).stillIntact(seen))
    }

    /// The daemon's event loop looks for the device's decision without blocking: a mark that
    /// stands (the device lost its CPU, or is filling) costs it a short spin, not the holder's
    /// second, and the frame counts as gone.
    func testTheEventLoopDoesNotWaitOutAMarkThatStands() throws {
        let ring = try makeRing()
        ring.descriptor(3).beginFill()
        ring.descriptor(3).publish(sequence: 42, length: 10, timestamp: 1, flags: [], checksum: 0)
        let seen = ring.descriptor(3).snapshot()
        ring.descriptor(3).beginFill() // marked, and nobody decides
        let start = monotonicNanoseconds()
        XCTAssertEqual(ring.descriptor(3).awaitDecision(after: seen.generation, spinOnly: true), seen.generation + 1)
        XCTAssertLessThan(monotonicNanoseconds() - start, 500_000_000, "the event loop waited for the device")
    }

    func testPatternChecksumIsZlibCRC32AndCatchesOneWrongByte() {
        let check = Array("123456789".utf8)
        XCTAssertEqual(check.withUnsafeBytes { FramePattern.crc32($0) }, 0xCBF4_3926)
        var buffer = [UInt8](repeating: 0, count: 12_345)
        let crc = buffer.withUnsafeMutableBytes { FramePattern.fill($0, sequence: 9) }
        XCTAssertEqual(buffer.withUnsafeBytes { FramePattern.crc32($0) }, crc)
        XCTAssertNil(buffer.withUnsafeBytes { FramePattern.firstMismatch($0, sequence: 9) })
        XCTAssertEqual(buffer.withUnsafeBytes { FramePattern.firstMismatch($0, sequence: 10) }, 0)
        buffer[12_344] ^= 1
        XCTAssertEqual(buffer.withUnsafeBytes { FramePattern.firstMismatch($0, sequence: 9) }, 12_344)
        XCTAssertNotEqual(buffer.withUnsafeBytes { FramePattern.crc32($0) }, crc)
    }

    func testHugepageRingWithoutReservedPagesNamesTheSysctl() throws {
        let free = (try? String(contentsOfFile: "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        try XCTSkipIf(free >= 64, "this machine has hugepages reserved")
        let geometry = RingGeometry(slotCount: 64, frameBytes: 1_000_000, pageBytes: 2 << 20)
        XCTAssertThrowsError(try Ring.create(stream: "huge", geometry: geometry, hugePage: .size2M, lock: .required, payloadFormat: .pattern)) {
            XCTAssertTrue("\($0)".contains("vm.nr_hugepages"), "\($0)")
        }
    }
}

/// The Locked: figure /proc/self/smaps gives for a mapping.
func lockedKilobytes(of mapping: Mapping) -> Int? {
    guard let smaps = readWholeFile("/proc/self/smaps") else { return nil }
    let start = String(UInt(bitPattern: mapping.base), radix: 16)
    var inside = false
    for line in smaps.split(separator: "\n") {
        if let dash = line.firstIndex(of: "-"), line[..<dash].allSatisfy(\.isHexDigit) {
            inside = line[..<dash].drop { $0 == "0" } == start[...].drop { $0 == "0" }
        } else if inside, line.hasPrefix("Locked:") {
            return Int(line.split(separator: " ")[1])
        }
    }
    return nil
}

