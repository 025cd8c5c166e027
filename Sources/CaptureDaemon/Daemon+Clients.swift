#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureRing
import CaptureSystem

/// Clients: admission, their requests, and the ways a session ends.
extension Daemon {
    /// At most this many connections are accepted per turn; the rest wait in the backlog.
    static let acceptsPerTurn = 16

    func acceptClients() {
        guard let listener else { return }
        for _ in 0..<Self.acceptsPerTurn {
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
            let open = sessions.values.filter { !$0.closing }.map { (uid: $0.peer.uid, privileged: $0.privileged) }
            if case let .refuse(code, text, why) = admission.decide(peer, open: open) {
                refuse(socket, code, text)
                logger.warning("client refused: \(why)", metadata: ["pid": "\(peer.pid)", "uid": "\(peer.uid)", "gid": "\(peer.gid)"])
                continue
            }
            let id = nextClientID
            nextClientID &+= 1
            let session = ClientSession(id: id, socket: socket, peer: peer, privileged: admission.isPrivileged(peer), now: monotonicNanoseconds())
            do {
                try epoll.add(socket, events: .readable, token: Token.client | UInt64(id))
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
            // Whatever descriptors came along are dropped, and so closed.
            guard case .message? = try? MessageSocket.receive(socket, blocking: false) else { break }
        }
    }

    /// One turn for one client: what it can take, then at most `messagesPerTurn` of its messages.
    func serve(_ session: ClientSession, events: Epoll.Events) {
        if events.contains(.writable) { flush(session) }
        guard !session.closing else { return }
        if session.goodbyeSince != nil {
            // Said goodbye: whatever the client still sends is read and dropped, so level-
            // triggered epoll does not spin and the close does not reset the connection.
            discardInput(session.socket)
            return
        }
        for _ in 0..<Self.messagesPerTurn {
            guard session.wantsInput else {
                // Closed or reset while we were not reading: nothing more will come.
                if events.contains(.hangup) || events.contains(.error) { disconnect(session, why: "closed the connection") }
                break
            }
            let incoming: MessageSocket.Incoming
            do { incoming = try MessageSocket.receive(session.socket, blocking: false) } catch {
                disconnect(session, why: "\(error)")
                return
            }
            switch incoming {
            case .wouldBlock:
                return watch(session)
            case .closed:
                return disconnect(session, why: "closed the connection")
            case .invalid(let error, _):
                return fail(session, error.code, error.detail)
            case .message(let message, let fds):
                if !fds.isEmpty {
                    return fail(session, .descriptorsRefused, "sent \(fds.count) file descriptor(s); clients may not send descriptors (closed)")
                }
                handle(message, from: session)
                if session.closing { return }
            }
        }
        watch(session)
    }

    private func handle(_ message: Message, from session: ClientSession) {
        switch message {
        case let .hello(streamName, mode, maxLeases, flags):
            hello(session, streamName: streamName, mode: mode, maxLeases: maxLeases, flags: flags)
        case .release(let entries):
            guard let engine = session.stream, session.mode == .lease else {
                return fail(session, .badState, "Release needs a lease-mode Hello first")
            }
            if let bad = entries.first(where: { Int($0.slot) >= engine.ring.geometry.slotCount }) {
                return fail(session, .malformed, "slot \(bad.slot) is not in the ring of \(engine.ring.geometry.slotCount) slots")
            }
            do {
                let notLeased = try engine.release(entries, by: session)
                if notLeased > 0 { session.noteNotLeased(notLeased) }
            } catch {
                logger.error("device queue failed: \(error)", metadata: ["stream": "\(engine.config.name)"])
            }
        case .statusRequest:
            let now = monotonicNanoseconds()
            session.takeStatusToken()
            session.lastRequestAt = now
            session.enqueue(statusReply: statusJSON(now: now))
        case .goodbye:
            disconnect(session, why: "said goodbye")
        case .welcome, .frames, .dropped, .leaseRevoked, .error, .statusReply:
            fail(session, .badState, "\(message.type) is sent by the daemon, not by clients")
        }
    }

    private func hello(_ session: ClientSession, streamName: String, mode: ClientMode, maxLeases: UInt16, flags: HelloFlags) {
        guard session.stream == nil else { return fail(session, .badState, "Hello was already sent on this connection") }
        guard let index = config.streams.firstIndex(where: { $0.name == streamName }) else {
            return fail(session, .unknownStream, "no stream named \"\(streamName)\"; streams: \(config.streams.map(\.name).joined(separator: ", "))")
        }
        guard let engine = streams[index] else {
            return fail(session, .streamGone, "stream \(streamName) is waiting for its device \(config.streams[index].device.name)")
        }
        // The client's own read-only open file description of the ring: it shares no offset
        // or status flags with the daemon or with any other client.
        let ringFD: FileDescriptor
        do { ringFD = try Memfd.reopenReadOnly(engine.ring.memfd) } catch {
            logger.error("\(error)", metadata: ["stream": "\(streamName)"])
            return fail(session, .internalError, "cannot open the ring for this client: \(error)")
        }
        defer { ringFD.close() } // the client has its copy once the Welcome is sent
        session.stream = engine
        session.mode = mode
        let limit = engine.config.maxLeases
        session.maxLeases = mode == .latest ? 0 : (maxLeases == 0 ? limit : min(Int(maxLeases), limit))
        // A doorbell when asked for and the device can ring one; otherwise Frames messages. A
        // self-serve lease client of a recycling device also gets its holds page.
        let (bell, holds) = engine.attach(session, doorbell: mode == .latest && flags.contains(.doorbell),
                                          selfServe: flags.contains(.selfServe))
        defer { holds?.close() } // the client has its own copy once the Welcome is sent
        updateDeviceWatches()
        let welcome = Welcome(clientID: session.id, mode: mode, maxLeases: UInt16(session.maxLeases),
                              leaseTimeoutMilliseconds: UInt32(config.leaseTimeoutMilliseconds),
                              ringBytes: UInt64(engine.ring.geometry.ringBytes), headSequence: engine.lastSequence,
                              doorbell: bell != nil, selfServe: holds != nil)
        do {
            let fds = [ringFD] + (bell.map { [$0] } ?? []) + (holds.map { [$0] } ?? [])
            guard try MessageSocket.send(session.socket, .welcome(welcome), passing: fds, blocking: false) == .sent else {
                return disconnect(session, why: "socket full before Welcome")
            }
        } catch {
            return disconnect(session, why: "\(error)")
        }
        logger.info("client connected", metadata: [
            "message_id": "\(MessageID.clientConnected)", "stream": "\(streamName)", "client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)",
            "mode": "\(mode)", "max_leases": "\(session.maxLeases)", "doorbell": "\(bell != nil)", "self_serve": "\(holds != nil)"])
    }

    /// Answers with an Error and closes the connection; everyone else carries on.
    func fail(_ session: ClientSession, _ code: ErrorCode, _ text: String) {
        logger.warning("client error \(code.name): \(text)", metadata: ["client": "\(session.id)", "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)"])
        _ = try? MessageSocket.send(session.socket, .error(code: code, message: text), blocking: false)
        discardInput(session.socket)
        disconnect(session, why: "protocol error")
    }

    func disconnect(_ session: ClientSession, why: String) {
        guard !session.closing else { return }
        session.closing = true
        let held = session.stream?.detach(session) ?? 0
        updateDeviceWatches()
        epoll.remove(session.socket)
        session.socket.close()
        sessions[session.id] = nil
        if let engine = session.stream {
            logger.info("client disconnected: \(why)", metadata: [
                "message_id": "\(MessageID.clientDisconnected)", "stream": "\(engine.config.name)", "client": "\(session.id)", "pid": "\(session.peer.pid)",
                "uid": "\(session.peer.uid)", "leases_returned": "\(held)", "dropped": "\(session.dropped)"])
        }
    }

    /// Ends a session with a Goodbye the client will see: what was still queued for it is
    /// dropped, the Goodbye goes out as soon as the client's socket has room (a SOCK_SEQPACKET
    /// receiver queues at most net.unix.max_dgram_qlen messages), then the connection closes.
    func sayGoodbye(_ session: ClientSession, _ reason: GoodbyeReason, _ text: String) {
        guard !session.closing, session.goodbyeSince == nil else { return }
        if let engine = session.stream {
            let held = engine.detach(session)
            updateDeviceWatches()
            logger.info("client disconnected: \(text)", metadata: [
                "message_id": "\(MessageID.clientDisconnected)", "stream": "\(engine.config.name)", "client": "\(session.id)",
                "pid": "\(session.peer.pid)", "uid": "\(session.peer.uid)", "leases_returned": "\(held)"])
        }
        session.stream = nil
        session.enqueueGoodbye(reason, text, now: monotonicNanoseconds())
        flush(session)
    }
}
