/// The capture protocol, version 1 (docs/PROTOCOL.md is the normative text).
///
/// One message per SOCK_SEQPACKET packet. Every message starts with an 8-byte header:
/// u16 type, u16 protocol version, u32 total length (header included). Little-endian.
public enum CaptureProtocol {
    public static let version: UInt16 = 1
    public static let headerBytes = 8
    /// Longest message either side sends or accepts.
    public static let maxMessageBytes = 65536
    public static let maxStreamNameBytes = 64
    /// Longest text in an Error or Goodbye.
    public static let maxTextBytes = 4096
    /// Most frame entries in one Frames or Release message.
    public static let maxBatch = 1024
}

public enum MessageType: UInt16, Sendable {
    case hello = 1
    case welcome = 2
    case frames = 3
    case release = 4
    case dropped = 5
    case leaseRevoked = 6
    case error = 7
    case goodbye = 8
    case statusRequest = 9
    case statusReply = 10
}

public enum ClientMode: UInt8, Sendable, Codable, CustomStringConvertible {
    /// The client holds each frame until it releases it.
    case lease = 1
    /// No leases: newest frame wins; torn reads are detected by the seqlock.
    case latest = 2

    public var description: String { self == .lease ? "lease" : "latest" }
    public init?(name: String) {
        switch name {
        case "lease": self = .lease
        case "latest": self = .latest
        default: return nil
        }
    }
}

/// Why frames were dropped for a client.
public enum DropReason: UInt32, Sendable, Codable, CustomStringConvertible {
    /// The device had no free slot: every client of the stream missed these frames.
    case deviceOverrun = 1
    /// The client already held its maximum of leases.
    case leaseLimit = 2
    /// The client fell behind its socket (latest mode coalescing never reports this).
    case backlog = 3
    /// Client-side only: published while the client was reconnecting to a restarted daemon.
    case reconnect = 4
    /// The device reused the frame's slot before a lease could hold it: a self-serve client
    /// that woke too late, or a daemon too late to lease it for a message client (sent only to
    /// clients that said `selfServe` in Hello; others are told `deviceOverrun`).
    case recycled = 5

    public var description: String {
        switch self {
        case .deviceOverrun: return "device overrun"
        case .leaseLimit: return "lease limit reached"
        case .backlog: return "client backlog"
        case .reconnect: return "published while reconnecting"
        case .recycled: return "slot reused before it was held"
        }
    }
}

/// Error codes carried by Error messages.
public enum ErrorCode: UInt32, Sendable, CustomStringConvertible {
    case malformed = 1
    case unsupportedVersion = 2
    case unknownMessage = 3
    case tooLarge = 4
    case descriptorsRefused = 5
    case unknownStream = 6
    case notPermitted = 7
    case tooManyClients = 8
    case notLeased = 9
    case badState = 10
    case streamGone = 11
    case internalError = 12
    /// The connection said nothing useful for daemon.hello_timeout_ms.
    case timedOut = 13

    /// The name docs/PROTOCOL.md gives the code (`malformed`, `not_leased`, …).
    public var name: String {
        switch self {
        case .malformed: return "malformed"
        case .unsupportedVersion: return "unsupported_version"
        case .unknownMessage: return "unknown_message"
        case .tooLarge: return "too_large"
        case .descriptorsRefused: return "descriptors_refused"
        case .unknownStream: return "unknown_stream"
        case .notPermitted: return "not_permitted"
        case .tooManyClients: return "too_many_clients"
        case .notLeased: return "not_leased"
        case .badState: return "bad_state"
        case .streamGone: return "stream_gone"
        case .internalError: return "internal_error"
        case .timedOut: return "timed_out"
        }
    }

    public var description: String {
        switch self {
        case .malformed: return "malformed message"
        case .unsupportedVersion: return "unsupported protocol version"
        case .unknownMessage: return "unknown message type"
        case .tooLarge: return "message too large"
        case .descriptorsRefused: return "file descriptors are not accepted from clients"
        case .unknownStream: return "unknown stream"
        case .notPermitted: return "not permitted"
        case .tooManyClients: return "too many clients"
        case .notLeased: return "frame not leased"
        case .badState: return "message not valid now"
        case .streamGone: return "stream gone"
        case .internalError: return "internal error"
        case .timedOut: return "timed out"
        }
    }
}

/// Hello's flags byte.
public struct HelloFlags: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Latest mode: wake me through an eventfd the device signals, not with Frames messages.
    public static let doorbell = HelloFlags(rawValue: 1)
    /// Lease mode: I take my own leases (PROTOCOL.md §5.2) — give me a doorbell and a holds
    /// page if the stream's device recycles its slots. Also: I understand drop reason 5.
    public static let selfServe = HelloFlags(rawValue: 2)
}

public enum GoodbyeReason: UInt32, Sendable {
    case normal = 0
    case shuttingDown = 1
    case evicted = 2
    case streamDetached = 3
}

/// One frame as a notification names it; the slot descriptor in the ring has the rest.
public struct FrameEntry: Sendable, Equatable {
    public var slot: UInt32
    public var sequence: UInt64
    public init(slot: UInt32, sequence: UInt64) {
        self.slot = slot
        self.sequence = sequence
    }
}

public struct Welcome: Sendable, Equatable {
    public var clientID: UInt32
    public var mode: ClientMode
    public var maxLeases: UInt16
    public var leaseTimeoutMilliseconds: UInt32
    public var ringBytes: UInt64
    public var headSequence: UInt64
    /// A doorbell eventfd came with the ring's memfd: the device signals it for every frame it
    /// publishes, and no Frames messages follow (latest mode, self-serve lease mode).
    public var doorbell: Bool
    /// A holds page came after the doorbell: the client takes its own leases (PROTOCOL.md §5.2).
    public var selfServe: Bool
    public init(clientID: UInt32, mode: ClientMode, maxLeases: UInt16, leaseTimeoutMilliseconds: UInt32, ringBytes: UInt64, headSequence: UInt64,
                doorbell: Bool = false, selfServe: Bool = false) {
        self.doorbell = doorbell
        self.selfServe = selfServe
        self.clientID = clientID
        self.mode = mode
        self.maxLeases = maxLeases
        self.leaseTimeoutMilliseconds = leaseTimeoutMilliseconds
        self.ringBytes = ringBytes
        self.headSequence = headSequence
    }
}

public struct Dropped: Sendable, Equatable {
    public var firstSequence: UInt64
    public var count: UInt64
    public var reason: DropReason
    /// All frames dropped for this client so far, this report included.
    public var clientTotal: UInt64
    public init(firstSequence: UInt64, count: UInt64, reason: DropReason, clientTotal: UInt64) {
        self.firstSequence = firstSequence
        self.count = count
        self.reason = reason
        self.clientTotal = clientTotal
    }
}

public enum Message: Sendable, Equatable {
    case hello(stream: String, mode: ClientMode, maxLeases: UInt16, flags: HelloFlags = [])
    case welcome(Welcome)
    case frames([FrameEntry])
    case release([FrameEntry])
    case dropped(Dropped)
    case leaseRevoked(FrameEntry)
    case error(code: ErrorCode, message: String)
    case goodbye(reason: GoodbyeReason, message: String)
    case statusRequest
    /// A UTF-8 JSON document (StatusReport).
    case statusReply(json: [UInt8])

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .frames: return .frames
        case .release: return .release
        case .dropped: return .dropped
        case .leaseRevoked: return .leaseRevoked
        case .error: return .error
        case .goodbye: return .goodbye
        case .statusRequest: return .statusRequest
        case .statusReply: return .statusReply
        }
    }
}

/// A message that could not be decoded, with the code the daemon answers it with.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case unsupportedVersion(UInt16)
    case unknownType(UInt16)
    case tooLarge(Int)

    public var code: ErrorCode {
        switch self {
        case .malformed: return .malformed
        case .unsupportedVersion: return .unsupportedVersion
        case .unknownType: return .unknownMessage
        case .tooLarge: return .tooLarge
        }
    }

    /// What was wrong, without the code's own name (the Error message says the code already).
    public var detail: String {
        if case .malformed(let why) = self { return why }
        return description
    }

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed message: \(why)"
        case .unsupportedVersion(let v): return "protocol version \(v) is not supported; this side speaks \(CaptureProtocol.version)"
        case .unknownType(let t): return "unknown message type \(t)"
        case .tooLarge(let n): return "message of \(n)+ bytes exceeds the \(CaptureProtocol.maxMessageBytes)-byte limit"
        }
    }
}
