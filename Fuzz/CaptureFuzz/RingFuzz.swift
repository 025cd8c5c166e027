#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureRing
import CaptureSystem

/// A ring whose header and descriptors hold whatever the fuzzer likes, handed to the client
/// library as a daemon would: the client must refuse it or read it without crashing and
/// without reading outside the mapping, whatever lengths, offsets and heads it claims.
enum RingFuzz {
    static func run(_ data: [UInt8]) {
        guard data.count >= 2 else { return }
        let flags = data[0]
        var image = Array(data.dropFirst().prefix(3 * 4096))
        var size = roundUp(max(image.count, 1), to: 4096)
        if flags & 4 != 0 && image.count >= 136 {
            // Make magic, version and ring size agree with the rest, so the fuzzer gets past the
            // first checks and into the geometry, the descriptors and the head.
            put(&image, 0, RingLayout.magic)
            put(&image, RingLayout.Header.version, RingLayout.version)
            if let claimed = claimedSize(image), claimed <= 1 << 24 { size = max(claimed, 4096) }
        }
        guard let memfd = try? Memfd.create(name: "fuzz-ring", hugePage: nil) else { return }
        guard (try? Memfd.setSize(memfd, bytes: size)) != nil else { return }
        _ = image.withUnsafeBytes { pwrite(memfd.raw, $0.baseAddress, min($0.count, size), 0) }
        guard let reader = try? RingReader(memfd: memfd) else { return }
        // Read what the ring says is there, as a client would.
        let g = reader.geometry
        for slot in 0..<min(g.slotCount, 64) {
            let snap = reader.descriptor(slot).snapshot()
            let bytes = reader.payload(slot: slot, length: Int(clamping: snap.length))
            _ = FramePattern.crc32(bytes)
        }
        _ = reader.head

        // And through the client library, told of every slot's frame by a daemon.
        let mode: ClientMode = flags & 1 == 0 ? .lease : .latest
        var entries: [FrameEntry] = []
        for slot in 0..<min(g.slotCount, 64) {
            entries.append(FrameEntry(slot: UInt32(slot), sequence: reader.descriptor(slot).snapshot().sequence))
        }
        let welcome = Message.welcome(Welcome(clientID: 1, mode: mode, maxLeases: 64, leaseTimeoutMilliseconds: 1000, ringBytes: UInt64(size),
                                              headSequence: 0, doorbell: flags & 2 != 0))
        var fds = [memfd]
        let bell = flags & 2 != 0 ? try? UnixPipe.make() : nil
        if let bell { fds.append(bell.read); UnixPipe.poke(bell.write) }
        guard let socket = FakeDaemon.socket(packets: [welcome.encode(), Message.frames(entries).encode()], fds: fds) else { return }
        withExtendedLifetime(bell) {
            guard let client = try? CaptureClient(connectedSocket: socket, stream: "fuzz", mode: mode) else { return }
            FakeDaemon.drain(client)
        }
    }

    private static func put<T: FixedWidthInteger>(_ image: inout [UInt8], _ offset: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() where offset + i < image.count { image[offset + i] = b } }
    }

    private static func get<T: FixedWidthInteger>(_ image: [UInt8], _ offset: Int, _: T.Type) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size where offset + i < image.count { v |= T(image[offset + i]) << (8 * i) }
        return v
    }

    /// ring_bytes as the header's geometry implies it, if that is a number at all.
    private static func claimedSize(_ image: [UInt8]) -> Int? {
        let slots = Int(get(image, RingLayout.Header.slotCount, UInt32.self))
        let frame = get(image, RingLayout.Header.frameBytes, UInt64.self)
        let page = Int(get(image, RingLayout.Header.pageBytes, UInt32.self))
        guard slots > 0, frame > 0, frame < 1 << 24, page > 0, page <= 1 << 21 else { return nil }
        return RingGeometry.checked(slotCount: slots, frameBytes: Int(frame), pageBytes: page)?.ringBytes
    }
}
