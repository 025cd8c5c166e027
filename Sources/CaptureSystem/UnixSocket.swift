#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// The peer of a Unix socket as the kernel reports it (SO_PEERCRED, SO_PEERGROUPS).
public struct PeerCredentials: Sendable, Equatable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
    public let groups: [UInt32]
}

/// AF_UNIX SOCK_SEQPACKET sockets: one wrapper per call.
public enum UnixSocket {
    /// socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC [| SOCK_NONBLOCK]).
    public static func seqpacket(nonBlocking: Bool = false) throws -> FileDescriptor {
        var type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(AF_UNIX, type, 0)
        if fd < 0 { throw SystemError("socket(AF_UNIX, SOCK_SEQPACKET)") }
        return FileDescriptor(owning: fd)
    }

    /// bind(2) to `path` and listen(2).
    public static func bindAndListen(_ fd: FileDescriptor, path: String, backlog: Int32 = 128) throws {
        if capture_unix_bind(fd.raw, path) != 0 {
            let err = SystemError("bind(\(path))")
            if err.errno == EACCES { throw err.hinting("the directory is not writable by this user; pass --socket PATH") }
            throw err
        }
        if listen(fd.raw, backlog) != 0 { throw SystemError("listen(\(path))") }
    }

    /// connect(2) to `path`.
    public static func connect(_ fd: FileDescriptor, path: String) throws {
        if capture_unix_connect(fd.raw, path) != 0 {
            let err = SystemError("connect(\(path))")
            switch err.errno {
            case ENOENT, ECONNREFUSED: throw err.hinting("is captured running? start it (make run, or systemctl start capture) or pass --socket PATH")
            case EACCES: throw err.hinting("this user may not use the socket; join group capture")
            default: throw err
            }
        }
    }

    /// accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK; nil when no connection is pending.
    public static func accept(_ listener: FileDescriptor) throws -> FileDescriptor? {
        while true {
            let fd = capture_accept(listener.raw)
            if fd >= 0 { return FileDescriptor(owning: fd) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED: return nil
            default: throw SystemError("accept4")
            }
        }
    }

    /// getsockopt(SO_PEERCRED) and getsockopt(SO_PEERGROUPS).
    public static func peerCredentials(_ fd: FileDescriptor) throws -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        if capture_peer_credentials(fd.raw, &pid, &uid, &gid) != 0 { throw SystemError("getsockopt(SO_PEERCRED)") }
        var groups = [UInt32](repeating: 0, count: 256)
        let n = capture_peer_groups(fd.raw, &groups, Int32(groups.count))
        return PeerCredentials(pid: pid, uid: uid, gid: gid, groups: n > 0 ? Array(groups[0..<Int(n)]) : [])
    }

    public enum SendResult: Equatable { case sent, wouldBlock }

    /// sendmsg(2) of one message with optional SCM_RIGHTS descriptors (MSG_NOSIGNAL); the
    /// receiver gets its own duplicates, ours stay ours.
    public static func send(_ fd: FileDescriptor, _ bytes: [UInt8], passing passed: [FileDescriptor] = [], blocking: Bool = true) throws -> SendResult {
        let fds = passed.map(\.raw)
        var flags = Int32(MSG_NOSIGNAL)
        if !blocking { flags |= Int32(MSG_DONTWAIT) }
        while true {
            let n = bytes.withUnsafeBytes { buf in
                fds.withUnsafeBufferPointer { f in
                    capture_send_with_fds(fd.raw, buf.baseAddress, buf.count, f.baseAddress, Int32(f.count), flags)
                }
            }
            if n >= 0 { return .sent }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("sendmsg")
        }
    }

    public struct Received {
        public var bytes: [UInt8]
        /// Descriptors that came with the message, owned: they close when dropped.
        public var fds: [FileDescriptor]
        /// The message was longer than the buffer (MSG_TRUNC).
        public var truncated: Bool
        /// Descriptors were dropped by the kernel for lack of room (MSG_CTRUNC).
        public var controlTruncated: Bool
    }

    public enum ReceiveResult {
        case message(Received)
        case closed
        case wouldBlock
    }

    /// recvmsg(2) of one message of at most `capacity` bytes.
    public static func receive(_ fd: FileDescriptor, capacity: Int, blocking: Bool = true) throws -> ReceiveResult {
        var fds = [Int32](repeating: -1, count: 16)
        var nfds: Int32 = 0
        var msgFlags: Int32 = 0
        var flags: Int32 = 0
        if !blocking { flags |= Int32(MSG_DONTWAIT) }
        while true {
            // Uninitialised: zeroing 64 KiB for every 32-byte message was most of a message's cost.
            var n = 0
            var error: Int32 = 0
            let buffer = [UInt8](unsafeUninitializedCapacity: capacity) { buf, count in
                n = capture_recv_with_fds(fd.raw, buf.baseAddress, buf.count, &fds, Int32(fds.count), &nfds, &msgFlags, flags)
                if n < 0 { error = errno }
                count = max(0, min(n, capacity))
            }
            if n < 0 {
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
                if error == ECONNRESET {
                    // The peer closed with our messages unread. The kernel reports that error
                    // before any message the peer sent first (an Error, a Goodbye), and clears
                    // it: one more non-blocking read collects such a last message.
                    if case .message(let last) = try receive(fd, capacity: capacity, blocking: false) { return .message(last) }
                    return .closed
                }
                throw SystemError("recvmsg", errno: error)
            }
            let received = fds[0..<Int(nfds)].map(FileDescriptor.init(owning:))
            if n == 0 && received.isEmpty { return .closed }
            return .message(Received(bytes: buffer, fds: received,
                                     truncated: msgFlags & Int32(MSG_TRUNC) != 0,
                                     controlTruncated: msgFlags & Int32(MSG_CTRUNC) != 0))
        }
    }

    /// ioctl(SIOCOUTQ): bytes this end has sent that the peer has not read yet.
    public static func unreadBytes(_ fd: FileDescriptor) -> Int {
        var n: Int32 = 0
        return capture_ioctl(fd.raw, UInt(CAPTURE_SIOCOUTQ), &n) == 0 ? Int(n) : 0
    }

    /// shutdown(SHUT_RDWR): wakes a thread blocked in recvmsg on the same socket.
    public static func shutdown(_ fd: FileDescriptor) {
        _ = Glibc.shutdown(fd.raw, Int32(SHUT_RDWR))
    }
}
