import CaptureDevice
import CaptureRing
import CaptureSystem
import XCTest

final class SyntheticDeviceTests: XCTestCase {
    func testFillsOnlyQueuedSlotsWithVerifiableFramesAndCountsOverruns() throws {
        let geometry = RingGeometry(slotCount: 4, frameBytes: 65_537, pageBytes: systemPageSize)
        let ring = try Ring.create(stream: "dev", geometry: geometry, hugePage: nil, lock: .required, payloadFormat: .pattern)
        let device = try SyntheticDevice(settings: .init(frameBytes: 65_537, frameRate: 2000, payload: .pattern))
        try device.attach(ring: ring)
        try ring.seal()
        try device.queue([2, 0])
        try device.start()
        var completions: [DeviceCompletion] = []
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while completions.count < 2 && monotonicNanoseconds() < deadline {
            completions += try device.readCompletions()
            usleep(1000)
        }
        usleep(20_000) // no slot is queued now: every frame time is an overrun
        device.stop()
        XCTAssertEqual(completions.map(\.slot), [2, 0])
        XCTAssertEqual(completions.map(\.sequence), [1, 2])
        for c in completions {
            let bytes = UnsafeRawBufferPointer(start: ring.mapping.base + geometry.slotOffset(Int(c.slot)), count: Int(c.bytes))
            XCTAssertEqual(FramePattern.crc32(bytes), c.checksum)
            XCTAssertNil(FramePattern.firstMismatch(bytes, sequence: c.sequence))
        }
        XCTAssertEqual(device.stats().frames, 2)
        XCTAssertGreaterThan(device.stats().overruns, 5)
        XCTAssertThrowsError(try device.queue([4]))
        device.close()
    }
}
