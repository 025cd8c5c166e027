import CaptureProtocol
import CaptureSystem

/// The event loop and its scheduling rules, in one place.
///
/// 1. Devices first. Every turn begins by draining every device that is ready, and while the
///    turn serves other work the devices are drained again whenever `deviceServiceInterval`
///    has passed, so no client work delays a completion by more than that.
/// 2. Each client gets at most `messagesPerTurn` messages read per turn; whatever it sent
///    beyond that waits for the next turn (epoll is level-triggered), after everyone else.
/// 3. A client is not read at all while it has a status reply unsent, a long outbox, or no
///    status tokens left (see ClientSession.wantsInput): its socket stops being watched for
///    input, so what it sends waits in its own socket buffer, not in ours.
/// 4. Status documents are built at most once per StatusDocument.minimumAge however many
///    clients ask; the costly parts at most once a second.
/// 5. Output is flushed at the end of every turn (and after a mid-turn device drain), without
///    blocking; a latest client is sent a Frames message only when it has read the last one.
/// 6. The 100 ms timer: rates, watchdog, systemd status, lease timeouts, evictions, the Hello
///    deadline, and status tokens.
/// 7. A device whose clients are all woken by the device itself (doorbells, self-serve leases)
///    is not watched: nobody waits for the daemon to hear of a frame, so its completions are
///    collected every `collectInterval` and the daemon stays off the per-frame path.
///    Hang-ups still wake the loop (epoll reports them whatever is asked).
extension Daemon {
    static let messagesPerTurn = 16
    static let deviceServiceInterval: UInt64 = 200_000 // ns
    static let collectInterval: UInt64 = 10_000_000 // ns

    /// The event loop; returns after SIGINT/SIGTERM.
    public func run() throws {
        while running {
            let unwatched = streams.contains { $0?.completionsWatched == false }
            let ready = try epoll.wait(timeoutMilliseconds: unwatched ? Int32(Self.collectInterval / 1_000_000) : 1000)
            if unwatched && monotonicNanoseconds() - lastCollect >= Self.collectInterval {
                serviceAllDevices()
                lastCollect = monotonicNanoseconds()
            }
            for (token, events) in ready where token & Token.kindMask == Token.device {
                serviceDevice(index: Int(token & ~Token.kindMask), events: events)
            }
            lastDeviceService = monotonicNanoseconds()
            for (token, events) in ready {
                switch token & Token.kindMask {
                case Token.listener: acceptClients()
                case Token.signals: handleSignals()
                case Token.timer: timer.acknowledge(); tick()
                case Token.udev: handleUdev()
                case Token.client:
                    if let session = sessions[UInt32(token & ~Token.kindMask)] { serve(session, events: events) }
                default: continue
                }
                if monotonicNanoseconds() - lastDeviceService > Self.deviceServiceInterval {
                    serviceAllDevices()
                    flushAll()
                }
            }
            flushAll()
        }
        shutdown()
    }

    func serviceDevice(index: Int, events: Epoll.Events) {
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

    /// Rule 7: watches each device's completions only while one of its clients needs the daemon
    /// to hear of every frame at once (Frames messages).
    func updateDeviceWatches() {
        for (index, engine) in streams.enumerated() {
            guard let engine else { continue }
            let wanted = engine.wantsEveryCompletion
            guard wanted != engine.completionsWatched else { continue }
            try? epoll.modify(engine.device.completionDescriptor, events: wanted ? .readable : [], token: Token.device | UInt64(index))
            engine.completionsWatched = wanted
        }
    }

    /// Drains every device whether or not epoll said so (each drain is one non-blocking read).
    func serviceAllDevices() {
        for index in streams.indices where streams[index] != nil { serviceDevice(index: index, events: []) }
        lastDeviceService = monotonicNanoseconds()
    }

    func handleSignals() {
        while let signal = signals.next() {
            logger.notice("signal \(signal): shutting down")
            running = false
        }
    }

    func flushAll() {
        for session in sessions.values where session.hasOutput { flush(session) }
    }

    func flush(_ session: ClientSession) {
        switch session.flush(now: monotonicNanoseconds()) {
        case .drained where session.goodbyeSince != nil:
            disconnect(session, why: "goodbye delivered")
        case .drained, .heldBack:
            watch(session, full: false)
        case .blocked:
            watch(session, full: true)
        case .failed(let error):
            disconnect(session, why: "\(error)")
        }
    }

    /// Keeps the session's epoll registration in step with what it wants: input only while
    /// `wantsInput`, output readiness only while its socket is full.
    func watch(_ session: ClientSession, full: Bool? = nil) {
        guard !session.closing else { return }
        var wanted: Epoll.Events = session.wantsInput ? .readable : []
        if full ?? session.interest.contains(.writable) { wanted.insert(.writable) }
        guard wanted != session.interest else { return }
        session.interest = wanted
        try? epoll.modify(session.socket, events: wanted, token: Token.client | UInt64(session.id))
    }

    func tick() {
        let now = monotonicNanoseconds()
        let leaseTimeout = UInt64(config.leaseTimeoutMilliseconds) * 1_000_000
        let clientTimeout = UInt64(config.clientTimeoutMilliseconds) * 1_000_000
        let helloTimeout = UInt64(config.helloTimeoutMilliseconds) * 1_000_000
        for engine in attached {
            engine.tick(now: now)
            engine.dropPredecessorsIfDue(now: now, grace: leaseTimeout)
        }
        // The watchdog is fed from the event loop itself: a stuck loop stops feeding it.
        if let interval = watchdogInterval, now - lastWatchdog >= interval / 2 {
            if lastWatchdog > 0 && now - lastWatchdog > interval * 3 / 4 {
                logger.warning("event loop stalled for \((now - lastWatchdog) / 1_000_000) ms; the watchdog fires at \(interval / 1_000_000) ms",
                               metadata: ["message_id": "\(MessageID.watchdogLate)"])
            }
            ServiceManager.notify("WATCHDOG=1")
            lastWatchdog = now
        }
        if now - lastStatusLine >= 1_000_000_000 {
            ServiceManager.notify("STATUS=\(statusLine())")
            lastStatusLine = now
        }
        for session in Array(sessions.values) where !session.closing {
            if let since = session.goodbyeSince {
                if now - since > 1_000_000_000 { disconnect(session, why: "goodbye not read within a second") }
                continue
            }
            if let since = session.behindSince, now - since > clientTimeout {
                logger.warning("client evicted: it has not read its socket for \(config.clientTimeoutMilliseconds) ms", metadata: [
                    "message_id": "\(MessageID.clientEvicted)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)"])
                disconnect(session, why: "evicted (not reading)")
                continue
            }
            if session.stream == nil && now - session.lastRequestAt > helloTimeout {
                fail(session, .timedOut, "no Hello within \(config.helloTimeoutMilliseconds) ms of connecting or of the last status request (daemon.hello_timeout_ms)")
                continue
            }
            if let engine = session.stream, engine.leaseCount(of: session) > 0 {
                let n = engine.revokeExpiredLeases(of: session, now: now, timeout: leaseTimeout)
                    + engine.revokeExpiredHolds(of: session, now: now, timeout: leaseTimeout)
                if n > 0 {
                    logger.warning("leases revoked after \(config.leaseTimeoutMilliseconds) ms", metadata: [
                        "message_id": "\(MessageID.leasesRevoked)", "stream": "\(engine.config.name)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "count": "\(n)"])
                }
            }
            session.refill(now: now)
            watch(session)
        }
    }
}
