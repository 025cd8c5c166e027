#if canImport(Glibc)
import Glibc
#endif
import CaptureConfig
import CaptureDevice
import CaptureProtocol
import CaptureRing
import CaptureSystem
import Foundation

/// The StatusReply document, cheap however often it is asked for: the JSON is built at most
/// once per `minimumAge` and served to every request meanwhile, and its costly parts (mincore
/// of the ring, seals, the inode, the driver's statistics) are measured at most once per
/// `slowFactsAge`. A flood of status requests thus costs a copy of cached bytes each.
final class StatusDocument {
    static let minimumAge: UInt64 = 5_000_000
    static let slowFactsAge: UInt64 = 1_000_000_000

    /// What a document is built from.
    struct Sources {
        var streams: [StreamEngine]
        /// Every configured stream and whether it is attached.
        var configured: [(Configuration.Stream, Bool)]
        var connections: Int
        var residencyGuard: ResidencyGuard
        var guardReasons: [String: String]
        var uptimeNanoseconds: UInt64
    }

    private struct SlowFacts {
        let at: UInt64
        let engine: ObjectIdentifier
        let residentBytes: Int
        let seals: String
        let inode: UInt64
        let device: DeviceStats
    }

    private var cached: (at: UInt64, json: [UInt8])?
    private var slow: [String: SlowFacts] = [:]
    private let encoder = JSONEncoder()

    /// The document as of at most `minimumAge` ago.
    func json(now: UInt64, sources: () -> Sources) -> [UInt8] {
        if let cached, now - cached.at < Self.minimumAge { return cached.json }
        let json: [UInt8]
        do {
            json = Array(try encoder.encode(report(sources(), now: now)))
        } catch {
            json = Array("{\"error\": \"status could not be encoded\"}".utf8)
        }
        cached = (now, json)
        return json
    }

    func report(_ s: Sources, now: UInt64) -> StatusReport {
        let list = s.streams.map { engine -> StatusReport.Stream in
            let ring = engine.ring
            let facts = slowFacts(engine, now: now)
            let region = s.residencyGuard.region(for: engine.config.name)
            let guardState: String
            if let region { guardState = region.writeProtected ? "active (write-protected)" : "active" } else {
                guardState = "unavailable: " + (s.guardReasons[engine.config.name] ?? s.residencyGuard.unavailableReason ?? "not registered")
            }
            let clients = engine.clients.map { c in
                StatusReport.Client(id: c.id, pid: c.peer.pid, uid: c.peer.uid, mode: "\(c.mode)", leases: engine.leaseCount(of: c),
                                    maxLeases: c.maxLeases, lag: engine.lastSequence &- c.lastNotified,
                                    // A self-serve client adds what only it saw: frames whose slots were reused first.
                                    delivered: c.delivered, dropped: c.dropped + (c.holds?.page.recycled ?? 0),
                                    revoked: c.revoked, doorbell: engine.hasDoorbell(c))
            }
            var stream = StatusReport.Stream(
                name: engine.config.name, device: engine.device.name, payload: engine.config.payload.name,
                frameBytes: engine.config.frameBytes, frameRate: engine.config.frameRate, slots: ring.geometry.slotCount,
                slotBytes: ring.geometry.slotStride, ringBytes: ring.geometry.ringBytes,
                ringInode: facts.inode, lockedBytes: ring.lockedBytes,
                residentBytes: facts.residentBytes, hugepages: engine.config.hugePage?.name ?? "none", seals: facts.seals, frames: engine.frames,
                dropped: engine.deviceDrops, clientDrops: engine.clientDrops, headSequence: engine.lastSequence,
                measuredRate: engine.measuredRate, slotsLeased: engine.slotsLeased,
                deviceOverruns: facts.device.overruns, pinnedPages: facts.device.pinnedPages,
                scatterGatherEntries: facts.device.scatterGatherEntries,
                residencyGuard: .init(state: guardState, faults: region?.faults.load(ordering: .relaxed) ?? 0,
                                      removeEvents: region?.removes.load(ordering: .relaxed) ?? 0),
                clients: clients)
            stream.slotsQueued = engine.slotsQueued
            switch engine.ring.format {
            case .opaque: break
            case let .image(name, width, height, stride):
                stream.format = .init(kind: "image", pixelFormat: name, width: width, height: height, stride: stride)
            case let .samples(dtype, shape):
                stream.format = .init(kind: "samples", dtype: dtype, shape: shape)
            }
            return stream
        }
        let waiting = s.configured.filter { !$0.1 }.map { "\($0.0.name) (\($0.0.device.name))" }
        return StatusReport(daemonPID: getpid(), version: captureVersion, uptimeSeconds: Double(s.uptimeNanoseconds) / 1e9,
                            clients: s.connections, streams: list, waitingForDevices: waiting)
    }

    private func slowFacts(_ engine: StreamEngine, now: UInt64) -> SlowFacts {
        let name = engine.config.name
        if let f = slow[name], f.engine == ObjectIdentifier(engine), now - f.at < Self.slowFactsAge { return f }
        let ring = engine.ring
        let f = SlowFacts(at: now, engine: ObjectIdentifier(engine), residentBytes: (try? ring.residentBytes()) ?? 0,
                          seals: (try? Memfd.seals(ring.memfd))?.description ?? "?", inode: (try? ring.memfd.inode()) ?? 0,
                          device: engine.device.stats())
        slow[name] = f
        return f
    }
}
