#if canImport(Glibc)
import Glibc
#endif
import CaptureConfig
import CaptureDevice
import CaptureProtocol
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
/// Start-up order matters: rings are created, populated and locked; each device attaches
/// (maps or pins) its ring; only then is the ring sealed, guarded, and the socket opened.
public final class Daemon {
    let config: Configuration
    let logger: Logger
    let socketPath: String
    /// One entry per configured stream, in configuration order; nil while its device is absent.
    private var streams: [StreamEngine?] = []
    private var attached: [StreamEngine] { streams.compactMap { $0 } }
    private var deviceMonitor: DeviceMonitor?
    private var sessions: [UInt32: ClientSession] = [:]
    private var nextClientID: UInt32 = 1
    private let residencyGuard: ResidencyGuard
    private var guardReasons: [String: String] = [:]
    private let epoll: Epoll
    private var listener: ListeningSocket?
    private let signals: TerminationSignals
    private let timer: PeriodicTimer
    private let startedAt = monotonicNanoseconds()
    private var running = true
    /// Descriptors systemd passed at start (listening socket, fd store), by name.
    private var passed: [(fd: Int32, name: String)] = []
    private let watchdogInterval = ServiceManager.watchdogInterval
    private var lastWatchdog: UInt64 = 0
    private var lastStatus: UInt64 = 0

    private enum Token {
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
        signals = try TerminationSignals()
        epoll = try Epoll()
        timer = try PeriodicTimer(intervalNanoseconds: 100_000_000)
        residencyGuard = try ResidencyGuard(logger: logger)
    }

    /// Creates every ring and device, seals and guards the rings, opens the socket, and only
    /// then tells systemd READY=1.
    public func start() throws {
        passed = ServiceManager.passedDescriptors()
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
        for (fd, name) in passed where !ServiceManager.isListeningSeqpacket(fd) {
            ServiceManager.forget(name: name)
            _ = Glibc.close(fd)
        }
        passed.removeAll { !ServiceManager.isListeningSeqpacket($0.fd) }
        if let reason = residencyGuard.unavailableReason {
            logger.warning("residency guard unavailable: \(reason)")
        }
        residencyGuard.start()
        listener = try ListeningSocket.fromSystemd(passed, path: socketPath) ?? ListeningSocket.bind(path: socketPath)
        try epoll.add(listener!.fd.raw, events: .readable, token: Token.listener)
        try epoll.add(signals.fd.raw, events: .readable, token: Token.signals)
        try epoll.add(timer.fd.raw, events: .readable, token: Token.timer)
        for engine in attached { try engine.start() }
        logger.info("captured \(captureVersion) ready", metadata: [
            "socket": "\(socketPath)", "streams": "\(attached.map(\.config.name).joined(separator: ","))",
            "inherited_socket": "\(listener!.inherited)", "message_id": "\(MessageID.daemonReady)"])
        ServiceManager.notify("READY=1\nSTATUS=\(statusLine())")
    }

    /// The descriptor systemd passed back under `name`, taken out of the list.
    private func takePassed(_ name: String) -> FileDescriptor? {
        guard let index = passed.firstIndex(where: { $0.name == name }) else { return nil }
        return FileDescriptor(owning: passed.remove(at: index).fd)
    }

    private func makeStream(_ s: Configuration.Stream) throws -> StreamEngine {
        let hugePage: Memfd.HugePage? = switch s.hugePages {
        case .none: nil
        case .size2M: .size2M
        case .size1G: .size1G
        }
        let geometry = RingGeometry(slotCount: s.slots, frameBytes: s.frameBytes, pageBytes: hugePage?.bytes ?? systemPageSize)
        let payload: PayloadFormat = s.payload == .pattern ? .pattern : .header
        let ringName = "ring-\(s.name)", deviceName = "device-\(s.name)"

        // After a restart: the ring and the device (with its pins) come back from the fd store.
        if case .kernel(let path) = s.device, let memfd = takePassed(ringName), let deviceFD = takePassed(deviceName) {
            do {
                let ring = try Ring.adopt(stream: s.name, memfd: memfd, geometry: geometry, payloadFormat: payload)
                let device = try KernelDevice(adopting: deviceFD, path: path, frameRate: s.frameRate, payload: payload)
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
            device = try SyntheticDevice(settings: .init(frameBytes: s.frameBytes, frameRate: s.frameRate, payload: payload))
        case .kernel(let path):
            device = try openKernelDevice(path: path, frameRate: s.frameRate, payload: payload)
        }
        let ring = try Ring.create(stream: s.name, geometry: geometry, hugePage: hugePage,
                                   lock: s.lock == .required ? .required : .bestEffort, payloadFormat: payload)
        if let warning = ring.lockWarning { logger.warning("\(warning)", metadata: ["stream": "\(s.name)"]) }
        // The device maps (synthetic) or pins (kernel) the ring while it can still be written;
        // then FUTURE_WRITE|SEAL, then the guard, whose write-protection must come after pins.
        try device.attach(ring: ring)
        try ring.seal()
        guardRing(ring, stream: s.name, hugePage: hugePage)
        if let kernel = device as? KernelDevice {
            // Kept by systemd across restarts: the next daemon takes both back, pins included.
            // (A synthetic device cannot re-map a sealed ring writable, so its rings are made anew.)
            ServiceManager.store(ring.memfd.raw, name: ringName)
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

    /// The event loop; returns after SIGINT/SIGTERM.
    public func run() throws {
        while running {
            let ready = try epoll.wait(timeoutMilliseconds: 1000)
            // Device completions first: publishing frames is what clients wait for.
            for (token, events) in ready where token & Token.kindMask == Token.device {
                handleDevice(index: Int(token & ~Token.kindMask), events: events)
            }
            for (token, events) in ready {
                let id = token & ~Token.kindMask
                switch token & Token.kindMask {
                case Token.listener: acceptClients()
                case Token.signals: handleSignals()
                case Token.timer: timer.acknowledge(); tick()
                case Token.udev: handleUdev()
                case Token.client:
                    if let session = sessions[UInt32(id)] { handleClient(session, events: events) }
                default: break
                }
            }
            flushAll()
        }
        shutdown()
    }

    private func handleDevice(index: Int, events: Epoll.Events) {
        guard index < streams.count, let engine = streams[index] else { return }
        if events.contains(.hangup) || events.contains(.error) {
            // The driver reports POLLHUP when its device is removed (unplug, unbind).
            return detach(index: index, why: "device \(engine.device.name) was removed")
        }
        do {
            try engine.handleCompletions(now: monotonicNanoseconds())
        } catch {
            // A device that fails or goes away takes its stream with it, not the daemon.
            detach(index: index, why: "device \(engine.device.name) failed: \(error)")
        }
    }

    private func handleUdev() {
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
    private func detach(index: Int, why: String) {
        guard let engine = streams[index] else { return }
        let name = engine.config.name
        for client in engine.clients {
            sayGoodbye(client, .streamDetached, "stream \(name): \(why)")
        }
        epoll.remove(engine.device.completionDescriptor)
        engine.stop()
        residencyGuard.unguard(engine.ring)
        engine.close()
        ServiceManager.forget(name: "ring-\(name)")
        ServiceManager.forget(name: "device-\(name)")
        streams[index] = nil
        logger.warning("stream detached: \(why)", metadata: ["message_id": "\(MessageID.streamDetached)", "stream": "\(name)"])
    }

    private func handleSignals() {
        while let signal = signals.next() {
            logger.notice("signal \(signal): shutting down")
            running = false
        }
    }

    // MARK: clients

    private func acceptClients() {
        guard let listener else { return }
        while true {
            let socket: FileDescriptor
            do {
                guard let s = try UnixSocket.accept(listener.fd) else { return }
                socket = s
            } catch {
                logger.error("\(error)")
                return
            }
            let peer: PeerCredentials
            do { peer = try UnixSocket.peerCredentials(socket) } catch {
                logger.error("\(error)")
                continue
            }
            if sessions.count >= config.maxClients {
                refuse(socket, .tooManyClients, "captured serves at most \(config.maxClients) clients (daemon.max_clients)")
                logger.warning("client refused: too many clients", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "max_clients": "\(config.maxClients)"])
                continue
            }
            if !isAllowed(peer) {
                refuse(socket, .notPermitted, "uid \(peer.uid) is not allowed by access.allow_uids / access.allow_groups")
                logger.warning("client refused: not in the allow-list", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "gid": "\(peer.gid)"])
                continue
            }
            let id = nextClientID
            nextClientID &+= 1
            let session = ClientSession(id: id, socket: socket, peer: peer)
            do {
                try epoll.add(socket.raw, events: .readable, token: Token.client | UInt64(id))
            } catch {
                logger.error("\(error)")
                continue
            }
            sessions[id] = session
            logger.debug("client connected", metadata: ["client": "\(id)", "pid": "\(peer.pid)", "uid": "\(peer.uid)"])
        }
    }

    private func refuse(_ socket: FileDescriptor, _ code: ErrorCode, _ text: String) {
        _ = try? MessageSocket.send(socket, .error(code: code, message: text), blocking: false)
        discardInput(socket)
        socket.close()
    }

    /// Reads and drops what a peer already sent, so closing does not reset the connection
    /// (a reset is reported to the peer before the message we sent it last).
    private func discardInput(_ socket: FileDescriptor) {
        for _ in 0..<64 {
            guard case .message(_, let fds)? = try? MessageSocket.receive(socket, blocking: false) else { break }
            closeAll(fds)
        }
    }

    private func isAllowed(_ peer: PeerCredentials) -> Bool {
        if config.allowUIDs.isEmpty && config.allowGIDs.isEmpty { return true }
        if peer.uid == 0 || peer.uid == getuid() || config.allowUIDs.contains(peer.uid) { return true }
        let groups = Set([peer.gid] + peer.groups)
        return config.allowGIDs.contains { groups.contains($0) }
    }

    private func handleClient(_ session: ClientSession, events: Epoll.Events) {
        if events.contains(.writable) { flush(session) }
        guard !session.closing else { return }
        if session.goodbyeSince != nil {
            // Said goodbye: whatever the client still sends is read and dropped, so level-
            // triggered epoll does not spin and the close does not reset the connection.
            discardInput(session.socket)
            return
        }
        // Bounded: a client flooding us cannot starve the device or the others.
        for _ in 0..<64 {
            let incoming: MessageSocket.Incoming
            do { incoming = try MessageSocket.receive(session.socket, blocking: false) } catch {
                disconnect(session, why: "\(error)")
                return
            }
            switch incoming {
            case .wouldBlock: return
            case .closed:
                disconnect(session, why: "closed the connection")
                return
            case .invalid(let error, let fds):
                closeAll(fds)
                fail(session, error.code, error.description)
                return
            case .message(let message, let fds):
                if !fds.isEmpty {
                    closeAll(fds)
                    fail(session, .descriptorsRefused, "sent \(fds.count) file descriptor(s); clients may not send descriptors (closed)")
                    return
                }
                handle(message, from: session)
                if session.closing { return }
            }
        }
    }

    private func handle(_ message: Message, from session: ClientSession) {
        switch message {
        case let .hello(streamName, mode, maxLeases, flags):
            guard session.stream == nil else { return fail(session, .badState, "Hello was already sent on this connection") }
            guard let index = config.streams.firstIndex(where: { $0.name == streamName }) else {
                return fail(session, .unknownStream, "no stream named \"\(streamName)\"; streams: \(config.streams.map(\.name).joined(separator: ", "))")
            }
            guard let engine = streams[index] else {
                return fail(session, .streamGone, "stream \(streamName) is waiting for its device \(config.streams[index].device.name)")
            }
            session.stream = engine
            session.mode = mode
            let limit = engine.config.maxLeases
            session.maxLeases = mode == .latest ? 0 : (maxLeases == 0 ? limit : min(Int(maxLeases), limit))
            // A doorbell when asked for and the device can ring one; otherwise Frames messages.
            if mode == .latest && flags.contains(.doorbell), let bell = try? EventCounter() {
                if engine.device.addDoorbell(bell.fd.raw) { session.doorbell = bell }
            }
            let welcome = Welcome(clientID: session.id, mode: mode, maxLeases: UInt16(session.maxLeases),
                                  leaseTimeoutMilliseconds: UInt32(config.leaseTimeoutMilliseconds),
                                  ringBytes: UInt64(engine.ring.geometry.ringBytes), headSequence: engine.lastSequence,
                                  doorbell: session.doorbell != nil)
            do {
                // The ring fd goes out with the Welcome; it is sealed, so the client can only read.
                let fds = [engine.ring.memfd.raw] + (session.doorbell.map { [$0.fd.raw] } ?? [])
                // (A failed send disconnects, which takes the doorbell back from the device.)
                guard try MessageSocket.send(session.socket, .welcome(welcome), passing: fds, blocking: false) == .sent else {
                    return disconnect(session, why: "socket full before Welcome")
                }
            } catch {
                return disconnect(session, why: "\(error)")
            }
            session.lastNotified = engine.lastSequence
            engine.attach(session)
            logger.info("client connected", metadata: [
                "message_id": "\(MessageID.clientConnected)", "stream": "\(streamName)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)",
                "mode": "\(mode)", "max_leases": "\(session.maxLeases)", "doorbell": "\(session.doorbell != nil)"])
        case .release(let entries):
            guard let engine = session.stream, session.mode == .lease else {
                return fail(session, .badState, "Release needs a lease-mode Hello first")
            }
            var unknown = 0
            for e in entries {
                guard Int(e.slot) < engine.ring.geometry.slotCount else {
                    return fail(session, .malformed, "slot \(e.slot) is not in the ring of \(engine.ring.geometry.slotCount) slots")
                }
                if engine.release(e, by: session) == .notLeased { unknown += 1 }
            }
            if unknown > 0 {
                // Not fatal: a release can race with a revocation.
                session.outbox.append(.error(code: .notLeased, message: "\(unknown) released frame(s) were not leased to this client (revoked?)"))
            }
            do { try engine.refill() } catch { logger.error("device queue failed: \(error)", metadata: ["stream": "\(engine.config.name)"]) }
        case .statusRequest:
            do {
                let json = try JSONEncoder().encode(statusReport())
                session.outbox.append(.statusReply(json: Array(json)))
            } catch {
                session.outbox.append(.error(code: .internalError, message: "status: \(error)"))
            }
        case .goodbye:
            disconnect(session, why: "said goodbye")
        case .welcome, .frames, .dropped, .leaseRevoked, .error, .statusReply:
            fail(session, .badState, "\(message.type) is sent by the daemon, not by clients")
        }
    }

    /// Answers with an Error and closes the connection; everyone else carries on.
    private func fail(_ session: ClientSession, _ code: ErrorCode, _ text: String) {
        logger.warning("client error: \(code): \(text)", metadata: ["client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)"])
        _ = try? MessageSocket.send(session.socket, .error(code: code, message: text), blocking: false)
        discardInput(session.socket)
        disconnect(session, why: "protocol error")
    }

    private func disconnect(_ session: ClientSession, why: String) {
        guard !session.closing else { return }
        session.closing = true
        let held = session.leases.count
        session.stream?.detach(session)
        epoll.remove(session.socket.raw)
        session.socket.close()
        sessions[session.id] = nil
        if let engine = session.stream {
            try? engine.refill()
            logger.info("client disconnected: \(why)", metadata: [
                "message_id": "\(MessageID.clientDisconnected)", "stream": "\(engine.config.name)", "client": "\(session.id)", "pid": "\(session.peer.pid)",
                "uid": "\(session.peer.uid)", "leases_returned": "\(held)", "dropped": "\(session.dropped)"])
        }
    }

    /// Ends a session with a Goodbye the client will see: what was still queued for it is
    /// dropped, the Goodbye goes out as soon as the client's socket has room (a SOCK_SEQPACKET
    /// receiver queues at most net.unix.max_dgram_qlen messages), then the connection closes.
    private func sayGoodbye(_ session: ClientSession, _ reason: GoodbyeReason, _ text: String) {
        guard !session.closing, session.goodbyeSince == nil else { return }
        let held = session.leases.count
        if let engine = session.stream {
            engine.detach(session)
            logger.info("client disconnected: \(text)", metadata: [
                "message_id": "\(MessageID.clientDisconnected)", "stream": "\(engine.config.name)", "client": "\(session.id)",
                "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)", "leases_returned": "\(held)"])
        }
        session.stream = nil
        session.outbox.removeAll()
        session.outbox.append(.goodbye(reason: reason, message: text))
        session.goodbyeSince = monotonicNanoseconds()
        flush(session)
    }

    private func flush(_ session: ClientSession) {
        switch session.flush(now: monotonicNanoseconds()) {
        case .drained where session.goodbyeSince != nil:
            disconnect(session, why: "goodbye delivered")
        case .drained:
            if session.watchingWritable {
                session.watchingWritable = false
                try? epoll.modify(session.socket.raw, events: .readable, token: Token.client | UInt64(session.id))
            }
        case .blocked:
            if !session.watchingWritable {
                session.watchingWritable = true
                try? epoll.modify(session.socket.raw, events: [.readable, .writable], token: Token.client | UInt64(session.id))
            }
        case .failed(let error):
            disconnect(session, why: "\(error)")
        }
    }

    private func flushAll() {
        for session in sessions.values where !session.outbox.isEmpty && !session.watchingWritable { flush(session) }
    }

    private func tick() {
        let now = monotonicNanoseconds()
        let leaseTimeout = UInt64(config.leaseTimeoutMilliseconds) * 1_000_000
        let clientTimeout = UInt64(config.clientTimeoutMilliseconds) * 1_000_000
        for engine in attached { engine.tick(now: now) }
        // The watchdog is fed from the event loop itself: a stuck loop stops feeding it.
        if let interval = watchdogInterval, now - lastWatchdog >= interval / 2 {
            if lastWatchdog > 0 && now - lastWatchdog > interval * 3 / 4 {
                logger.warning("event loop stalled for \((now - lastWatchdog) / 1_000_000) ms; the watchdog fires at \(interval / 1_000_000) ms",
                               metadata: ["message_id": "\(MessageID.watchdogLate)"])
            }
            ServiceManager.notify("WATCHDOG=1")
            lastWatchdog = now
        }
        if now - lastStatus >= 1_000_000_000 {
            ServiceManager.notify("STATUS=\(statusLine())")
            lastStatus = now
        }
        for session in Array(sessions.values) {
            if let since = session.goodbyeSince, now - since > 1_000_000_000 {
                disconnect(session, why: "goodbye not read within a second")
                continue
            }
            if let since = session.blockedSince, now - since > clientTimeout {
                logger.warning("client evicted: it has not read its socket for \(config.clientTimeoutMilliseconds) ms", metadata: [
                    "message_id": "\(MessageID.clientEvicted)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)"])
                disconnect(session, why: "evicted (not reading)")
                continue
            }
            if let engine = session.stream, !session.leases.isEmpty {
                let n = engine.revokeExpiredLeases(of: session, now: now, timeout: leaseTimeout)
                if n > 0 {
                    logger.warning("leases revoked after \(config.leaseTimeoutMilliseconds) ms", metadata: [
                        "message_id": "\(MessageID.leasesRevoked)", "stream": "\(engine.config.name)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "count": "\(n)"])
                    try? engine.refill()
                }
            }
        }
    }

    // MARK: status

    func statusReport() -> StatusReport {
        let now = monotonicNanoseconds()
        let list = attached.map { engine -> StatusReport.Stream in
            let ring = engine.ring
            let region = residencyGuard.region(for: engine.config.name)
            let guardState: String
            if let region { guardState = region.writeProtected ? "active (write-protected)" : "active" } else {
                guardState = "unavailable: " + (guardReasons[engine.config.name] ?? residencyGuard.unavailableReason ?? "not registered")
            }
            let resident = (try? ring.residentBytes()) ?? 0
            let deviceStats = engine.device.stats()
            let seals = (try? Memfd.seals(ring.memfd))?.description ?? "?"
            let clients = engine.clients.map { c in
                StatusReport.Client(id: c.id, pid: c.peer.pid, uid: c.peer.uid, mode: "\(c.mode)", leases: c.leases.count,
                                    maxLeases: c.maxLeases, lag: engine.lastSequence &- c.lastNotified, delivered: c.delivered,
                                    dropped: c.dropped, revoked: c.revoked, doorbell: c.doorbell != nil)
            }
            return StatusReport.Stream(
                name: engine.config.name, device: engine.device.name, payload: engine.config.payload.rawValue,
                frameBytes: engine.config.frameBytes, frameRate: engine.config.frameRate, slots: ring.geometry.slotCount,
                slotBytes: ring.geometry.slotStride, ringBytes: ring.geometry.ringBytes,
                ringInode: (try? ring.memfd.inode()) ?? 0, lockedBytes: ring.lockedBytes,
                residentBytes: resident, hugepages: engine.config.hugePages.rawValue, seals: seals, frames: engine.frames,
                dropped: engine.deviceDrops, clientDrops: engine.clientDrops, headSequence: engine.lastSequence,
                measuredRate: engine.measuredRate, slotsLeased: engine.slotsLeased,
                deviceOverruns: deviceStats.overruns, pinnedPages: deviceStats.pinnedPages,
                scatterGatherEntries: deviceStats.scatterGatherEntries,
                residencyGuard: .init(state: guardState, faults: region?.faults.load(ordering: .relaxed) ?? 0,
                                      removeEvents: region?.removes.load(ordering: .relaxed) ?? 0),
                clients: clients)
        }
        let waiting = zip(config.streams, streams).filter { $0.1 == nil }.map { "\($0.0.name) (\($0.0.device.name))" }
        return StatusReport(daemonPID: getpid(), version: captureVersion, uptimeSeconds: Double(now - startedAt) / 1e9,
                            clients: sessions.count, streams: list, waitingForDevices: waiting)
    }

    // MARK: shutdown

    /// One line for `systemctl status`: per stream rate, clients and drops.
    func statusLine() -> String {
        let parts = attached.map { e in
            "\(e.config.name) \(String(format: "%.1f", e.measuredRate)) frames/s, \(e.clients.count) client(s), \(e.deviceDrops + e.clientDrops) dropped"
        }
        return parts.joined(separator: "; ")
    }

    private func shutdown() {
        ServiceManager.notify("STOPPING=1\nSTATUS=stopping")
        logger.notice("captured stopping", metadata: ["message_id": "\(MessageID.daemonStopping)"])
        for session in Array(sessions.values) {
            _ = try? MessageSocket.send(session.socket, .goodbye(reason: .shuttingDown, message: "captured is stopping"), blocking: false)
            disconnect(session, why: "daemon stopping")
        }
        for engine in attached {
            engine.stop()
            residencyGuard.unguard(engine.ring)
        }
        residencyGuard.close()
        for engine in attached { engine.close() }
        listener?.close()
        logger.info("captured stopped")
    }
}
