#if canImport(Glibc)
import Glibc
#endif
import CaptureConfig
import CaptureDevice
import CaptureProtocol
import CaptureRecording
import CaptureRing
import CaptureSystem
import Foundation
import Logging

public let captureVersion = "0.1.0"

/// Why the daemon could not start; the text says what to do.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

/// captured: owns the rings and devices, and serves clients from one epoll event loop.
///
/// This file holds start-up, streams coming and going, and shutdown. The event loop and its
/// scheduling rules are in Daemon+EventLoop.swift, clients (admission, requests, endings) in
/// Daemon+Clients.swift, the status document in StatusDocument.swift.
///
/// Start-up order matters: rings are created, populated and locked; each device attaches
/// (maps or pins) its ring; only then is the ring sealed, guarded, and the socket opened.
public final class Daemon {
    let config: Configuration
    let logger: Logger
    let socketPath: String
    /// One entry per configured stream, in configuration order; nil while its device is absent.
    var streams: [StreamEngine?] = []
    var attached: [StreamEngine] { streams.compactMap { $0 } }
    var deviceMonitor: DeviceMonitor?
    /// Every connection, by client id: the one owner of each ClientSession.
    var sessions: [UInt32: ClientSession] = [:]
    var nextClientID: UInt32 = 1
    let admission: AdmissionPolicy
    let residencyGuard: ResidencyGuard
    var guardReasons: [String: String] = [:]
    let status: StatusDocument
    let epoll: Epoll
    var listener: ListeningSocket?
    let signals: TerminationSignals
    let timer: PeriodicTimer
    let startedAt = monotonicNanoseconds()
    var running = true
    /// Descriptors systemd passed at start (listening socket, fd store), by name, until taken.
    var passed: [String: FileDescriptor] = [:]
    let watchdogInterval = ServiceManager.watchdogInterval
    var lastWatchdog: UInt64 = 0
    var lastStatusLine: UInt64 = 0
    /// When devices were last drained (the loop drains them again when other work ran long).
    var lastDeviceService: UInt64 = 0
    /// When unwatched devices were last collected (Daemon+EventLoop rule 7).
    var lastCollect: UInt64 = 0

    enum Token {
        static let listener: UInt64 = 1 << 56
        static let signals: UInt64 = 2 << 56
        static let timer: UInt64 = 3 << 56
        static let device: UInt64 = 4 << 56
        static let client: UInt64 = 5 << 56
        static let udev: UInt64 = 6 << 56
        static let kindMask: UInt64 = 0xff << 56
    }

    public init(config: Configuration, socketPath: String, logger: Logger) throws {
        self.config = config
        self.socketPath = socketPath
        self.logger = logger
        admission = AdmissionPolicy(config, ownUID: getuid())
        status = StatusDocument()
        signals = try TerminationSignals()
        epoll = try Epoll()
        timer = try PeriodicTimer(intervalNanoseconds: 100_000_000)
        residencyGuard = try ResidencyGuard(logger: logger)
    }

    /// Creates every ring and device, seals and guards the rings, opens the socket, and only
    /// then tells systemd READY=1.
    public func start() throws {
        var listening: FileDescriptor?
        for (fd, name) in ServiceManager.passedDescriptors() {
            if ServiceManager.isListeningSeqpacket(fd.raw) { listening = fd } else { passed[name] = fd }
        }
        let (monitor, why) = DeviceMonitor.open()
        deviceMonitor = monitor
        if let monitor { try epoll.add(monitor.fd, events: .readable, token: Token.udev) } else if let why {
            logger.notice("not following udev: \(why); kernel devices must exist at start")
        }
        for s in config.streams {
            if case .kernel(let path) = s.device, access(path, F_OK) != 0, deviceMonitor != nil {
                // udev will announce it; the stream attaches then.
                logger.notice("stream \(s.name) waits for \(path)", metadata: ["stream": "\(s.name)"])
                streams.append(nil)
                continue
            }
            streams.append(try makeStream(s))
        }
        for (index, engine) in streams.enumerated() {
            if let engine { try epoll.add(engine.device.completionDescriptor, events: .readable, token: Token.device | UInt64(index)) }
        }
        // Anything left in the fd store that no stream took back is stale: let it go.
        for (name, fd) in passed {
            ServiceManager.forget(name: name)
            fd.close()
        }
        passed.removeAll()
        if let reason = residencyGuard.unavailableReason {
            logger.warning("residency guard unavailable: \(reason)")
        }
        residencyGuard.start()
        listener = try listening.map { try ListeningSocket(inherited: $0, path: socketPath) } ?? ListeningSocket.bind(path: socketPath)
        try epoll.add(listener!.fd, events: .readable, token: Token.listener)
        try epoll.add(signals.fd, events: .readable, token: Token.signals)
        try epoll.add(timer.fd, events: .readable, token: Token.timer)
        for engine in attached { try engine.start() }
        logger.info("captured \(captureVersion) ready", metadata: [
            "socket": "\(socketPath)", "streams": "\(attached.map(\.config.name).joined(separator: ","))",
            "inherited_socket": "\(listener!.inherited)", "message_id": "\(MessageID.daemonReady)"])
        ServiceManager.notify("READY=1\nSTATUS=\(statusLine())")
    }

    private func makeStream(_ s: Configuration.Stream) throws -> StreamEngine {
        let hugePage = s.hugePage
        let geometry = RingGeometry(slotCount: s.slots, frameBytes: s.frameBytes, pageBytes: hugePage?.bytes ?? systemPageSize)
        let payload = s.payload
        let ringName = "ring-\(s.name)", deviceName = "device-\(s.name)"

        // After a restart: the ring and the device (with its pins) come back from the fd store.
        if case .kernel(let path) = s.device, let memfd = passed.removeValue(forKey: ringName), let deviceFD = passed.removeValue(forKey: deviceName) {
            do {
                let ring = try Ring.adopt(stream: s.name, memfd: memfd, geometry: geometry, payloadFormat: payload, format: s.format)
                let device = try KernelDevice(adopting: deviceFD, path: path, frameRate: s.frameRate, payload: payload)
                device.use(ring: ring)
                let slots = try device.slotStates(count: geometry.slotCount)
                guardRing(ring, stream: s.name, hugePage: hugePage)
                logger.info("stream attached: ring and pins kept from the previous daemon", metadata: [
                    "message_id": "\(MessageID.streamAttached)", "stream": "\(s.name)", "device": "\(path)",
                    "ring_bytes": "\(geometry.ringBytes)", "ring_inode": "\((try? memfd.inode()) ?? 0)",
                    "pinned_pages": "\(device.stats().pinnedPages)"])
                return StreamEngine(config: s, ring: ring, device: device, logger: logger, deviceSlots: slots)
            } catch {
                logger.warning("cannot take over the stored ring of \(s.name) (\(error)); making a new one", metadata: ["stream": "\(s.name)"])
                ServiceManager.forget(name: ringName)
                ServiceManager.forget(name: deviceName)
                memfd.close()
                deviceFD.close()
            }
        }

        let device: CaptureDevice
        switch s.device {
        case .synthetic:
            device = try SyntheticDevice(settings: .init(frameBytes: s.frameBytes, frameRate: s.frameRate, payload: payload, format: s.format))
        case .kernel(let path):
            device = try openKernelDevice(path: path, frameRate: s.frameRate, payload: payload)
        case .replay(let path):
            let replay = s.replay ?? .init()
            let source = ReplaySource(recording: try Recording(directory: path, direct: true), loop: replay.loop, recordedPace: replay.recordedPace)
            device = try SyntheticDevice(settings: .init(frameRate: s.frameRate, source: source, name: "replay:" + path))
        }
        let ring = try Ring.create(stream: s.name, geometry: geometry, hugePage: hugePage,
                                   lock: s.lock, payloadFormat: payload, format: s.format)
        if let warning = ring.lockWarning { logger.warning("\(warning)", metadata: ["stream": "\(s.name)"]) }
        // The device maps (synthetic) or pins (kernel) the ring while it can still be written;
        // then FUTURE_WRITE|SEAL, then the guard, whose write-protection must come after pins.
        try device.attach(ring: ring)
        try ring.seal()
        guardRing(ring, stream: s.name, hugePage: hugePage)
        if let kernel = device as? KernelDevice {
            // Kept by systemd across restarts: the next daemon takes both back, pins included.
            // (A synthetic device cannot re-map a sealed ring writable, so its rings are made anew.)
            ServiceManager.store(ring.memfd, name: ringName)
            ServiceManager.store(kernel.descriptor, name: deviceName)
        }
        logger.info("stream attached", metadata: [
            "message_id": "\(MessageID.streamAttached)",
            "stream": "\(s.name)", "device": "\(device.name)", "ring_bytes": "\(geometry.ringBytes)",
            "slots": "\(geometry.slotCount)", "slot_bytes": "\(geometry.slotStride)", "locked_bytes": "\(ring.lockedBytes)",
            "ring_inode": "\((try? ring.memfd.inode()) ?? 0)", "pinned_pages": "\(device.stats().pinnedPages)"])
        return StreamEngine(config: s, ring: ring, device: device, logger: logger)
    }

    private func guardRing(_ ring: Ring, stream: String, hugePage: Memfd.HugePage?) {
        if let reason = residencyGuard.guardRing(ring, isHugetlb: hugePage != nil) {
            guardReasons[stream] = reason
        }
    }

    /// Opens a kernel device, waiting briefly while systemd lets go of a copy we asked it to drop.
    private func openKernelDevice(path: String, frameRate: Double, payload: PayloadFormat) throws -> KernelDevice {
        let deadline = monotonicNanoseconds() + 2_000_000_000
        while true {
            do {
                return try KernelDevice(path: path, frameRate: frameRate, payload: payload)
            } catch let e as SystemError where e.errno == EBUSY && monotonicNanoseconds() < deadline {
                usleep(50_000)
            }
        }
    }

    // MARK: streams coming and going (udev)

    func handleUdev() {
        guard let monitor = deviceMonitor else { return }
        for (action, node) in monitor.drain() {
            guard let index = config.streams.firstIndex(where: { $0.device == .kernel(path: node) }) else { continue }
            switch action {
            case .remove:
                if streams[index] != nil { detach(index: index, why: "device \(node) was removed") }
            case .add:
                guard streams[index] == nil else { continue }
                do {
                    let engine = try makeStream(config.streams[index])
                    try epoll.add(engine.device.completionDescriptor, events: .readable, token: Token.device | UInt64(index))
                    streams[index] = engine
                    try engine.start()
                } catch {
                    logger.error("cannot attach \(node): \(error)", metadata: ["stream": "\(config.streams[index].name)"])
                }
            }
        }
    }

    /// The stream's device is gone: its clients are told and let go, its ring and device fd
    /// are released (and dropped from the fd store), and the stream waits for the device.
    func detach(index: Int, why: String) {
        guard let engine = streams[index] else { return }
        let name = engine.config.name
        engine.stop() // before the Goodbyes return leases: see shutdown()
        for client in engine.clients {
            sayGoodbye(client, .streamDetached, "stream \(name): \(why)")
        }
        epoll.remove(engine.device.completionDescriptor)
        residencyGuard.unguard(engine.ring)
        engine.close()
        ServiceManager.forget(name: "ring-\(name)")
        ServiceManager.forget(name: "device-\(name)")
        streams[index] = nil
        logger.warning("stream detached: \(why)", metadata: ["message_id": "\(MessageID.streamDetached)", "stream": "\(name)"])
    }

    // MARK: status

    /// The StatusReply document (cached: see StatusDocument).
    func statusJSON(now: UInt64) -> [UInt8] {
        status.json(now: now) {
            StatusDocument.Sources(streams: attached, configured: zip(config.streams, streams).map { ($0.0, $0.1 != nil) },
                                   connections: sessions.count, residencyGuard: residencyGuard, guardReasons: guardReasons,
                                   uptimeNanoseconds: now - startedAt)
        }
    }

    /// One line for `systemctl status`: per stream rate, clients and drops.
    func statusLine() -> String {
        let parts = attached.map { e in
            "\(e.config.name) \(String(format: "%.1f", e.measuredRate)) frames/s, \(e.clients.count) client(s), \(e.deviceDrops + e.clientDrops) dropped"
        }
        return parts.joined(separator: "; ")
    }

    // MARK: shutdown

    func shutdown() {
        ServiceManager.notify("STOPPING=1\nSTATUS=stopping")
        logger.notice("captured stopping", metadata: ["message_id": "\(MessageID.daemonStopping)"])
        // Devices first: leases the Goodbyes return must not be refilled, as the frames in
        // them stay mapped (and readable) in the clients after the daemon is gone.
        for engine in attached { engine.stop(handOver: true) }
        for session in Array(sessions.values) {
            _ = try? MessageSocket.send(session.socket, .goodbye(reason: .shuttingDown, message: "captured is stopping"), blocking: false)
            disconnect(session, why: "daemon stopping")
        }
        for engine in attached { residencyGuard.unguard(engine.ring) }
        residencyGuard.close()
        for engine in attached { engine.close() }
        listener?.close()
        logger.info("captured stopped")
    }
}
