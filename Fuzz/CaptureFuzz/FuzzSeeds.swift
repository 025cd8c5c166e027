import CaptureConfig
import CaptureProtocol
import CaptureRing
import CaptureSystem
import Foundation

/// The seed corpora (`capture-fuzz seeds DIR` writes them; Fuzz/corpus holds them): valid
/// inputs of every kind, so the fuzzers start from what the code really receives.
public enum FuzzSeeds {
    public static func write(to directory: String) throws {
        for target in FuzzTarget.allCases {
            let dir = directory + "/" + target.rawValue
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, bytes) in seeds(target) {
                try Data(bytes).write(to: URL(fileURLWithPath: dir + "/seed-" + name))
            }
        }
    }

    static let messages: [(String, Message)] = [
        ("hello", .hello(stream: "sim0", mode: .lease, maxLeases: 4, flags: [])),
        ("hello-doorbell", .hello(stream: "sim0", mode: .latest, maxLeases: 0, flags: .doorbell)),
        ("welcome", .welcome(Welcome(clientID: 7, mode: .lease, maxLeases: 8, leaseTimeoutMilliseconds: 5000, ringBytes: 73728, headSequence: 3))),
        ("welcome-doorbell", .welcome(Welcome(clientID: 8, mode: .latest, maxLeases: 0, leaseTimeoutMilliseconds: 5000, ringBytes: 73728, headSequence: 0, doorbell: true))),
        ("frames", .frames([FrameEntry(slot: 3, sequence: 4), FrameEntry(slot: 4, sequence: 5)])),
        ("release", .release([FrameEntry(slot: 3, sequence: 4)])),
        ("dropped", .dropped(Dropped(firstSequence: 6, count: 2, reason: .leaseLimit, clientTotal: 2))),
        ("revoked", .leaseRevoked(FrameEntry(slot: 1, sequence: 2))),
        ("error", .error(code: .notLeased, message: "1 released frame(s) were not leased")),
        ("goodbye", .goodbye(reason: .shuttingDown, message: "captured is stopping")),
        ("status-request", .statusRequest),
        ("status-reply", .statusReply(json: Array("{}".utf8))),
    ]

    static func seeds(_ target: FuzzTarget) -> [(String, [UInt8])] {
        switch target {
        case .codec:
            return messages.map { ($0.0, $0.1.encode()) }
        case .config:
            return [
                ("minimal", "[stream.sim0]\n"),
                ("full", """
                    [daemon]
                    socket = "/run/capture/capture.sock"
                    max_clients = 64
                    max_clients_per_uid = 16
                    hello_timeout_ms = 5000
                    lease_timeout_ms = 5000
                    client_timeout_ms = 10000
                    [access]
                    allow_uids = [0, 1000]
                    allow_groups = [0]
                    [stream.sim0]
                    device = "synthetic"
                    frame_bytes = 1_000_000
                    frame_rate = 1000.5
                    payload = "pattern"
                    queue_depth = 8
                    max_leases = 16
                    [stream.sim0.ring]
                    slots = 96
                    hugepages = "none"
                    lock = "best-effort"
                    [stream.cam0]
                    device = "/dev/capture0"
                    ring = { slots = 16, lock = "required" }  # inline table
                    """),
            ].map { ($0.0, Array($0.1.utf8)) }
        case .status:
            let client = StatusReport.Client(id: 3, pid: 42, uid: 1000, mode: "latest", leases: 0, maxLeases: 0, lag: 1, delivered: 0, dropped: 2, revoked: 0, doorbell: true)
            var stream = StatusReport.Stream(
                name: "sim0", device: "synthetic", payload: "pattern", frameBytes: 1_000_000, frameRate: 1000, slots: 96, slotBytes: 1_003_520,
                ringBytes: 96_350_208, ringInode: 1027, lockedBytes: 96_350_208, residentBytes: 96_350_208, hugepages: "none",
                seals: "SHRINK|GROW|FUTURE_WRITE|SEAL", frames: 1000, dropped: 0, clientDrops: 3, headSequence: 1000, measuredRate: 999.7,
                slotsLeased: 2, deviceOverruns: 0, pinnedPages: 0, scatterGatherEntries: 0,
                residencyGuard: .init(state: "active (write-protected)", faults: 0, removeEvents: 0), clients: [client])
            stream.slotsQueued = 90
            let report = StatusReport(daemonPID: 1, version: "0.1.0", uptimeSeconds: 3.5, clients: 2, streams: [stream], waitingForDevices: ["cam0 (/dev/capture0)"])
            return [("report", Array((try? JSONEncoder().encode(report)) ?? Data()))]
        case .client:
            func packets(_ ms: [Message]) -> [UInt8] {
                ms.flatMap { m -> [UInt8] in
                    let b = m.encode()
                    return [UInt8(b.count & 0xff), UInt8(b.count >> 8)] + b
                }
            }
            let ringBytes = UInt64(ClientFuzz.ring.geometry.ringBytes)
            let lease = Message.welcome(Welcome(clientID: 1, mode: .lease, maxLeases: 8, leaseTimeoutMilliseconds: 5000, ringBytes: ringBytes, headSequence: 0))
            let latest = Message.welcome(Welcome(clientID: 1, mode: .latest, maxLeases: 0, leaseTimeoutMilliseconds: 5000, ringBytes: ringBytes, headSequence: 0, doorbell: true))
            return [
                ("lease", [0] + packets([lease, .frames([FrameEntry(slot: 0, sequence: 1), FrameEntry(slot: 1, sequence: 2)]),
                                         .dropped(Dropped(firstSequence: 3, count: 1, reason: .deviceOverrun, clientTotal: 1)),
                                         .leaseRevoked(FrameEntry(slot: 0, sequence: 1)), .error(code: .notLeased, message: "x"),
                                         .goodbye(reason: .shuttingDown, message: "bye")])),
                ("latest-doorbell", [3] + packets([latest, .frames([FrameEntry(slot: 7, sequence: 8)]), .error(code: .malformed, message: "no")])),
            ]
        case .ring:
            let geometry = RingGeometry(slotCount: 4, frameBytes: 5000, pageBytes: systemPageSize)
            guard let ring = try? Ring.create(stream: "seed", geometry: geometry, hugePage: nil, lock: .bestEffort, payloadFormat: .pattern) else { return [] }
            defer { ring.close() }
            for slot in 0..<4 {
                ring.descriptor(slot).beginFill()
                ring.descriptor(slot).publish(sequence: UInt64(slot + 1), length: 5000, timestamp: 9, flags: .checksum, checksum: 0)
            }
            RingHead.publish(ringBase: ring.mapping.base, sequence: 4, slot: 3)
            let image = Array(UnsafeRawBufferPointer(start: ring.mapping.base, count: geometry.slotsOffset))
            return [("lease", [4] + image), ("latest-doorbell", [7] + image), ("garbage-header", [1] + Array(image.prefix(200)))]
        }
    }
}
