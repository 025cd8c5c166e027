#if canImport(Glibc)
import Glibc
#endif
import CaptureRing
import CaptureSystem
import CCaptureShim
import CCaptureUAPI

/// Drives /dev/captureN with every kind of bad request and checks the errno of each, and that
/// a refused request changed nothing. Prints one line per check; returns the failure count.
func driverErrors(path: String) -> Int {
    var failures = 0
    func expect(_ what: String, _ got: Int32, _ want: Int32) {
        let ok = got == want
        if !ok { failures += 1 }
        say("\(ok ? "ok  " : "FAIL") \(what): \(got == 0 ? "success" : String(cString: strerror(got))) (want \(want == 0 ? "success" : String(cString: strerror(want))))")
    }
    func call<T>(_ fd: Int32, _ request: UInt, _ arg: inout T) -> Int32 {
        withUnsafeMutablePointer(to: &arg) { capture_ioctl(fd, request, $0) } == 0 ? 0 : errno
    }
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { say("FAIL open \(path): \(String(cString: strerror(errno)))"); return 1 }
    defer { close(fd) }
    expect("a second open", open(path, O_RDWR) < 0 ? errno : 0, EBUSY)

    let geometry = RingGeometry(slotCount: 8, frameBytes: 10_000, pageBytes: systemPageSize)
    guard let ring = try? Ring.create(stream: "errors", geometry: geometry, hugePage: nil, lock: .required, payloadFormat: .pattern) else {
        say("FAIL cannot make a ring"); return failures + 1
    }
    func request(memfd: Int32, address: UnsafeMutableRawPointer?) -> capture_register {
        var r = capture_register()
        r.memfd = memfd
        r.slot_count = UInt32(geometry.slotCount)
        r.user_address = UInt64(UInt(bitPattern: address))
        r.ring_bytes = UInt64(geometry.ringBytes)
        r.slots_offset = UInt64(geometry.slotsOffset)
        r.slot_stride = UInt64(geometry.slotStride)
        r.frame_bytes = UInt64(geometry.frameBytes)
        r.layout_version = RingLayout.version
        r.descriptor_bytes = UInt32(RingLayout.descriptorBytes)
        r.descriptors_offset = UInt64(geometry.descriptorsOffset)
        return r
    }

    var bad = request(memfd: 9999, address: ring.mapping.base)
    expect("REGISTER_RING with a closed fd", call(fd, capture_ioc_register_ring(), &bad), EBADF)
    var pipeFDs: [Int32] = [-1, -1]
    _ = pipe(&pipeFDs)
    bad = request(memfd: pipeFDs[0], address: ring.mapping.base)
    expect("REGISTER_RING with a pipe", call(fd, capture_ioc_register_ring(), &bad), EINVAL)
    if let unsealed = try? Memfd.create(name: "unsealed", hugePage: nil), (try? Memfd.setSize(unsealed, bytes: geometry.ringBytes)) != nil,
       let map = try? Mapping(sharing: unsealed, length: geometry.ringBytes, protection: [.read, .write]) {
        bad = request(memfd: unsealed.raw, address: map.base)
        expect("REGISTER_RING with an unsealed memfd", call(fd, capture_ioc_register_ring(), &bad), EPERM)
    }
    bad = request(memfd: ring.memfd.raw, address: ring.mapping.base)
    bad.slots_offset += 100
    expect("REGISTER_RING with unaligned geometry", call(fd, capture_ioc_register_ring(), &bad), EINVAL)
    let anonymous = mmap(nil, geometry.ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
    bad = request(memfd: ring.memfd.raw, address: anonymous)
    expect("REGISTER_RING with an address that is not the memfd's mapping", call(fd, capture_ioc_register_ring(), &bad), EINVAL)

    var stats = capture_stats()
    _ = call(fd, capture_ioc_stats(), &stats)
    expect("nothing pinned after refusals (\(stats.pinned_pages) pages)", stats.pinned_pages == 0 ? 0 : EEXIST, 0)

    var good = request(memfd: ring.memfd.raw, address: ring.mapping.base)
    expect("REGISTER_RING of a sealed memfd ring", call(fd, capture_ioc_register_ring(), &good), 0)
    expect("a second REGISTER_RING", call(fd, capture_ioc_register_ring(), &good), EBUSY)

    func queue(_ slots: [UInt32]) -> Int32 {
        var copy = slots
        return copy.withUnsafeMutableBufferPointer { buf in
            var q = capture_queue()
            q.count = UInt32(buf.count)
            q.slots = UInt64(UInt(bitPattern: buf.baseAddress))
            return call(fd, capture_ioc_queue(), &q)
        }
    }
    expect("QUEUE of slot 99 in a ring of 8", queue([99]), EINVAL)
    expect("QUEUE of slot 1", queue([1]), 0)
    expect("QUEUE of slot 1 again (not free)", queue([2, 1]), EBUSY)
    _ = call(fd, capture_ioc_stats(), &stats)
    expect("the refused QUEUE queued nothing (\(stats.queued) queued)", stats.queued == 1 ? 0 : EEXIST, 0)
    expect("pinned pages = ring pages (\(stats.pinned_pages))", stats.pinned_pages == UInt64(geometry.ringBytes / systemPageSize) ? 0 : EEXIST, 0)
    return failures
}
