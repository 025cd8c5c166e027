#if canImport(Glibc)
import Glibc
#endif
import CaptureDaemon
import CaptureRing
import CaptureSystem
import CCaptureShim
import Logging
import XCTest

final class ResidencyGuardTests: XCTestCase {
    /// Knock a page of the guarded mapping out of the page table (as lost residency would) and
    /// touch it: the guard must count the fault, and the data must survive.
    func testLostResidencyIsCountedAndTheFrameSurvives() throws {
        let geometry = RingGeometry(slotCount: 4, frameBytes: 8192, pageBytes: systemPageSize)
        let ring = try Ring.create(stream: "guarded", geometry: geometry, hugePage: nil, lock: .required, payloadFormat: .pattern)
        let offset = geometry.slotOffset(1)
        let slot = UnsafeMutableRawBufferPointer(start: ring.mapping.base + offset, count: 8192)
        _ = FramePattern.fill(slot, sequence: 77)
        let guardian = try ResidencyGuard(logger: Logger(label: "test"))
        try XCTSkipIf(!guardian.isActive, "userfaultfd unavailable: \(guardian.unavailableReason ?? "")")
        XCTAssertNil(guardian.guardRing(ring, isHugetlb: false))
        guardian.start()
        defer {
            guardian.unguard(ring)
            guardian.close()
            ring.close()
        }
        XCTAssertEqual(guardian.region(for: "guarded")?.faults.load(ordering: .relaxed), 0)

        XCTAssertEqual(capture_munlock(slot.baseAddress, 4096), 0)
        XCTAssertEqual(capture_madvise(slot.baseAddress, 4096, MADV_DONTNEED), 0)
        let first = slot.load(as: UInt64.self) // faults; the guard resolves it
        XCTAssertEqual(first, 77 &* 0x9E37_79B9_7F4A_7C15)
        XCTAssertNil(FramePattern.firstMismatch(UnsafeRawBufferPointer(slot), sequence: 77))
        XCTAssertEqual(guardian.region(for: "guarded")?.faults.load(ordering: .relaxed), 1)
        XCTAssertEqual(guardian.region(for: "guarded")?.removes.load(ordering: .relaxed), 1)
    }
}
