/// The JSON document of a StatusReply (`capturectl status --json` prints it as is).
public struct StatusReport: Codable, Sendable {
    public struct Guard: Codable, Sendable {
        /// "active" or "unavailable: <reason>".
        public var state: String
        public var faults: UInt64
        public var removeEvents: UInt64
        public init(state: String, faults: UInt64, removeEvents: UInt64) {
            self.state = state
            self.faults = faults
            self.removeEvents = removeEvents
        }
    }

    /// A stream's frame format: `kind` "image" (pixelFormat, width, height, stride) or
    /// "samples" (dtype, shape).
    public struct Format: Codable, Sendable, Equatable {
        public var kind: String
        public var pixelFormat: String?
        public var width: Int?
        public var height: Int?
        public var stride: Int?
        public var dtype: String?
        public var shape: [Int]?
        public init(kind: String, pixelFormat: String? = nil, width: Int? = nil, height: Int? = nil, stride: Int? = nil, dtype: String? = nil, shape: [Int]? = nil) {
            self.kind = kind
            self.pixelFormat = pixelFormat
            self.width = width
            self.height = height
            self.stride = stride
            self.dtype = dtype
            self.shape = shape
        }
    }

    public struct Client: Codable, Sendable {
        public var id: UInt32
        public var pid: Int32
        public var uid: UInt32
        public var mode: String
        public var leases: Int
        public var maxLeases: Int
        /// Frames published since the newest one this client was sent.
        public var lag: UInt64
        public var delivered: UInt64
        public var dropped: UInt64
        public var revoked: UInt64
        /// Latest mode: woken by the device's doorbell (no Frames messages; `delivered` stays 0).
        public var doorbell: Bool
        public init(id: UInt32, pid: Int32, uid: UInt32, mode: String, leases: Int, maxLeases: Int, lag: UInt64, delivered: UInt64, dropped: UInt64, revoked: UInt64,
                    doorbell: Bool = false) {
            self.doorbell = doorbell
            self.id = id
            self.pid = pid
            self.uid = uid
            self.mode = mode
            self.leases = leases
            self.maxLeases = maxLeases
            self.lag = lag
            self.delivered = delivered
            self.dropped = dropped
            self.revoked = revoked
        }
    }

    public struct Stream: Codable, Sendable {
        public var name: String
        public var device: String
        public var payload: String
        public var frameBytes: Int
        public var frameRate: Double
        public var slots: Int
        public var slotBytes: Int
        public var ringBytes: Int
        /// The memfd's inode: unchanged when a restarted daemon kept the ring.
        public var ringInode: UInt64
        public var lockedBytes: Int
        public var residentBytes: Int
        public var hugepages: String
        public var seals: String
        /// Frames published to clients.
        public var frames: UInt64
        /// Frames the device could not deliver (no free slot).
        public var dropped: UInt64
        /// Frames clients missed because they held their maximum of leases.
        public var clientDrops: UInt64
        public var headSequence: UInt64
        public var measuredRate: Double
        public var slotsLeased: Int
        /// What a frame holds (absent: opaque bytes, or a daemon before 0.2).
        public var format: Format?
        /// Slots queued at the device right now: how many frames it can capture before the
        /// daemon must give it more (its slack). Absent from daemons before 0.2.
        public var slotsQueued: Int?
        /// The device's own count of frame times with no queued slot.
        public var deviceOverruns: UInt64
        /// Pages the kernel driver holds pinned (0 for the synthetic device).
        public var pinnedPages: UInt64
        /// Scatter-gather entries over all slots (hugetlb rings need far fewer).
        public var scatterGatherEntries: UInt64
        public var residencyGuard: Guard
        public var clients: [Client]
        public init(name: String, device: String, payload: String, frameBytes: Int, frameRate: Double, slots: Int, slotBytes: Int, ringBytes: Int, ringInode: UInt64, lockedBytes: Int, residentBytes: Int, hugepages: String, seals: String, frames: UInt64, dropped: UInt64, clientDrops: UInt64, headSequence: UInt64, measuredRate: Double, slotsLeased: Int, deviceOverruns: UInt64, pinnedPages: UInt64, scatterGatherEntries: UInt64, residencyGuard: Guard, clients: [Client]) {
            self.name = name
            self.device = device
            self.payload = payload
            self.frameBytes = frameBytes
            self.frameRate = frameRate
            self.slots = slots
            self.slotBytes = slotBytes
            self.ringBytes = ringBytes
            self.ringInode = ringInode
            self.lockedBytes = lockedBytes
            self.residentBytes = residentBytes
            self.hugepages = hugepages
            self.seals = seals
            self.frames = frames
            self.dropped = dropped
            self.clientDrops = clientDrops
            self.headSequence = headSequence
            self.measuredRate = measuredRate
            self.slotsLeased = slotsLeased
            self.deviceOverruns = deviceOverruns
            self.pinnedPages = pinnedPages
            self.scatterGatherEntries = scatterGatherEntries
            self.residencyGuard = residencyGuard
            self.clients = clients
        }
    }

    public var daemonPID: Int32
    public var version: String
    public var uptimeSeconds: Double
    public var clients: Int
    public var streams: [Stream]
    /// Configured kernel streams whose device is absent ("cam0 (/dev/capture0)").
    public var waitingForDevices: [String]
    public init(daemonPID: Int32, version: String, uptimeSeconds: Double, clients: Int, streams: [Stream], waitingForDevices: [String]) {
        self.daemonPID = daemonPID
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.clients = clients
        self.streams = streams
        self.waitingForDevices = waitingForDevices
    }
}
