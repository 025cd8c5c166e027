#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol
import CaptureRing
import CaptureSystem

/// Something playing the daemon: a socket pair whose far end holds the packets to deliver.
enum FakeDaemon {
    /// Writes `packets` (the first with `fds`) to one end of a SOCK_SEQPACKET pair, closes it,
    /// and returns the other end for a client to read. Packets the queue cannot take are dropped.
    static func socket(packets: [[UInt8]], fds: [FileDescriptor]) -> FileDescriptor? {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return nil }
        let daemon = FileDescriptor(owning: pair[0])
        let client = FileDescriptor(owning: pair[1])
        // Room for every packet, so the client reads all of them without a writer thread.
        var size: Int32 = 4 << 20
        setsockopt(daemon.raw, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        for (i, p) in packets.enumerated() {
            guard (try? UnixSocket.send(daemon, p, passing: i == 0 ? fds : [], blocking: false)) == .sent else { break }
        }
        daemon.close()
        return client
    }

    /// Splits fuzz input into packets: each is a little-endian u16 length and that many bytes.
    static func packets(_ data: ArraySlice<UInt8>) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var rest = data
        while rest.count >= 2 {
            let n = Int(rest[rest.startIndex]) | Int(rest[rest.startIndex + 1]) << 8
            rest = rest.dropFirst(2)
            out.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
            if out.count >= 64 { break }
        }
        return out
    }

    /// Reads every event the client will give, checking each frame, until the session ends.
    static func drain(_ client: CaptureClient) {
        var frames: [Frame] = []
        for _ in 0..<512 {
            do {
                switch try client.nextEvent(timeout: .zero) {
                case .frame(let f):
                    precondition(f.length <= client.ring.geometry.frameBytes, "a frame longer than its slot")
                    _ = f.check() // reads every byte the frame claims: must stay inside the ring
                    frames.append(f)
                default: break
                }
            } catch {
                break
            }
        }
        try? client.release(frames)
    }
}

enum ClientFuzz {
    /// One small, valid ring, made once: the daemon's side of what a client maps.
    nonisolated(unsafe) static let ring: Ring = {
        let geometry = RingGeometry(slotCount: 8, frameBytes: 6000, pageBytes: systemPageSize)
        let ring = try! Ring.create(stream: "fuzz", geometry: geometry, hugePage: nil, lock: .bestEffort, payloadFormat: .pattern)
        // Frame s + 1 in slot s, as a device would leave them, so announced frames can check out.
        for slot in 0..<geometry.slotCount {
            let payload = UnsafeMutableRawBufferPointer(start: ring.mapping.base + geometry.slotOffset(slot), count: geometry.frameBytes)
            let crc = FramePattern.fill(payload, sequence: UInt64(slot + 1))
            ring.descriptor(slot).beginFill()
            ring.descriptor(slot).publish(sequence: UInt64(slot + 1), length: UInt64(geometry.frameBytes), timestamp: 1, flags: .checksum, checksum: crc)
        }
        RingHead.publish(ringBase: ring.mapping.base, sequence: UInt64(geometry.slotCount), slot: geometry.slotCount - 1)
        try! ring.seal()
        return ring
    }()

    /// Input: byte 0 chooses the mode and whether a doorbell comes along; then packets, the first
    /// of which is what the client takes for a Welcome.
    static func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let mode: ClientMode = first & 1 == 0 ? .lease : .latest
        var fds = [ring.memfd]
        var pipeEnds: (read: FileDescriptor, write: FileDescriptor)?
        if first & 2 != 0, let p = try? UnixPipe.make() {
            pipeEnds = p
            fds.append(p.read)
            UnixPipe.poke(p.write)
        }
        guard let socket = FakeDaemon.socket(packets: FakeDaemon.packets(data.dropFirst()), fds: fds) else { return }
        withExtendedLifetime(pipeEnds) {
            guard let client = try? CaptureClient(connectedSocket: socket, stream: "fuzz", mode: mode) else { return }
            FakeDaemon.drain(client)
        }
    }
}
