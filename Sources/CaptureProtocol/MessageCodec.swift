extension Message {
    /// The message as one packet.
    public func encode() -> [UInt8] {
        var w = WireWriter()
        w.u16(type.rawValue)
        w.u16(CaptureProtocol.version)
        w.u32(0) // length, patched below
        switch self {
        case let .hello(stream, mode, maxLeases, flags):
            let name = Array(stream.utf8)
            w.u8(mode.rawValue)
            w.u8(flags.rawValue)
            w.u16(maxLeases)
            w.u16(UInt16(name.count))
            w.u16(0)
            w.raw(name)
        case let .welcome(v):
            w.u32(v.clientID)
            w.u8(v.mode.rawValue)
            w.u8((v.doorbell ? 1 : 0) | (v.selfServe ? 2 : 0))
            w.u16(v.maxLeases)
            w.u32(v.leaseTimeoutMilliseconds)
            w.u32(0)
            w.u64(v.ringBytes)
            w.u64(v.headSequence)
        case let .frames(entries), let .release(entries):
            w.u32(UInt32(entries.count))
            w.u32(0)
            for e in entries {
                w.u32(e.slot)
                w.u32(0)
                w.u64(e.sequence)
            }
        case let .dropped(d):
            w.u64(d.firstSequence)
            w.u64(d.count)
            w.u32(d.reason.rawValue)
            w.u32(0)
            w.u64(d.clientTotal)
        case let .leaseRevoked(e):
            w.u32(e.slot)
            w.u32(0)
            w.u64(e.sequence)
        case let .error(code, message):
            w.u32(code.rawValue)
            w.u32(0)
            w.raw(Self.text(message))
        case let .goodbye(reason, message):
            w.u32(reason.rawValue)
            w.u32(0)
            w.raw(Self.text(message))
        case .statusRequest:
            break
        case let .statusReply(json):
            w.raw(json)
        }
        let length = UInt32(w.bytes.count).littleEndian
        withUnsafeBytes(of: length) { for i in 0..<4 { w.bytes[4 + i] = $0[i] } }
        return w.bytes
    }

    /// At most `maxTextBytes` of UTF-8, cut at a character boundary.
    static func text(_ s: String) -> [UInt8] {
        var bytes = 0
        var end = s.unicodeScalars.startIndex
        for scalar in s.unicodeScalars {
            let n = UTF8.width(scalar)
            if bytes + n > CaptureProtocol.maxTextBytes { break }
            bytes += n
            end = s.unicodeScalars.index(after: end)
        }
        return Array(s.unicodeScalars[..<end].map(String.init).joined().utf8)
    }

    /// Decodes one packet. Every length is checked; trailing bytes are an error.
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> Message {
        guard bytes.count <= CaptureProtocol.maxMessageBytes else { throw .tooLarge(bytes.count) }
        var r = WireReader(bytes)
        guard bytes.count >= CaptureProtocol.headerBytes else { throw .malformed("\(bytes.count) bytes is shorter than the 8-byte header") }
        let rawType = try r.u16("type")
        let version = try r.u16("version")
        let length = try r.u32("length")
        guard version == CaptureProtocol.version else { throw .unsupportedVersion(version) }
        guard Int(length) == bytes.count else { throw .malformed("header says \(length) bytes, packet has \(bytes.count)") }
        guard let type = MessageType(rawValue: rawType) else { throw .unknownType(rawType) }
        let message: Message
        switch type {
        case .hello:
            guard let mode = ClientMode(rawValue: try r.u8("mode")) else { throw .malformed("unknown client mode") }
            // Bits this version does not know are ignored, so newer clients still get served.
            let flags = HelloFlags(rawValue: try r.u8("flags")).intersection([.doorbell, .selfServe])
            let maxLeases = try r.u16("max_leases")
            let nameLength = Int(try r.u16("name_length"))
            _ = try r.u16("reserved")
            guard nameLength > 0, nameLength <= CaptureProtocol.maxStreamNameBytes else { throw .malformed("stream name of \(nameLength) bytes (1…\(CaptureProtocol.maxStreamNameBytes))") }
            let name = try r.bytes(nameLength, "stream")
            guard let stream = String(validating: name, as: UTF8.self) else { throw .malformed("stream name is not UTF-8") }
            message = .hello(stream: stream, mode: mode, maxLeases: maxLeases, flags: flags)
        case .welcome:
            let id = try r.u32("client_id")
            guard let mode = ClientMode(rawValue: try r.u8("mode")) else { throw .malformed("unknown client mode") }
            let flags = try r.u8("flags")
            let maxLeases = try r.u16("max_leases")
            let timeout = try r.u32("lease_timeout_ms")
            _ = try r.u32("reserved")
            let ringBytes = try r.u64("ring_bytes")
            let head = try r.u64("head_sequence")
            message = .welcome(Welcome(clientID: id, mode: mode, maxLeases: maxLeases, leaseTimeoutMilliseconds: timeout, ringBytes: ringBytes, headSequence: head,
                                       doorbell: flags & 1 != 0, selfServe: flags & 2 != 0))
        case .frames, .release:
            let count = Int(try r.u32("count"))
            _ = try r.u32("reserved")
            guard count <= CaptureProtocol.maxBatch else { throw .malformed("\(count) entries (at most \(CaptureProtocol.maxBatch))") }
            guard r.remaining == count * 16 else { throw .malformed("\(count) entries need \(count * 16) bytes, \(r.remaining) present") }
            var entries: [FrameEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let slot = try r.u32("slot")
                _ = try r.u32("reserved")
                entries.append(FrameEntry(slot: slot, sequence: try r.u64("sequence")))
            }
            message = type == .frames ? .frames(entries) : .release(entries)
        case .dropped:
            let first = try r.u64("first_sequence")
            let count = try r.u64("count")
            guard let reason = DropReason(rawValue: try r.u32("reason")) else { throw .malformed("unknown drop reason") }
            _ = try r.u32("reserved")
            message = .dropped(Dropped(firstSequence: first, count: count, reason: reason, clientTotal: try r.u64("client_total")))
        case .leaseRevoked:
            let slot = try r.u32("slot")
            _ = try r.u32("reserved")
            message = .leaseRevoked(FrameEntry(slot: slot, sequence: try r.u64("sequence")))
        case .error:
            let raw = try r.u32("code")
            _ = try r.u32("reserved")
            let code = ErrorCode(rawValue: raw) ?? .internalError
            message = .error(code: code, message: try r.text("message"))
        case .goodbye:
            let reason = GoodbyeReason(rawValue: try r.u32("reason")) ?? .normal
            _ = try r.u32("reserved")
            message = .goodbye(reason: reason, message: try r.text("text"))
        case .statusRequest:
            message = .statusRequest
        case .statusReply:
            message = .statusReply(json: r.rest())
        }
        guard r.remaining == 0 else { throw .malformed("\(r.remaining) trailing bytes after a \(type) message") }
        return message
    }
}
