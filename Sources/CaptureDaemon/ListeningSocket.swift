#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem

/// The daemon's listening socket: handed over by systemd (socket activation, sd_listen_fds(3))
/// or bound by the daemon itself.
final class ListeningSocket {
    let fd: FileDescriptor
    let path: String
    /// True when systemd owns the path (we must not unlink it).
    let inherited: Bool

    private init(fd: FileDescriptor, path: String, inherited: Bool) {
        self.fd = fd
        self.path = path
        self.inherited = inherited
    }

    /// The listening socket among the descriptors systemd passed (capture.socket), if any.
    static func fromSystemd(_ passed: [(fd: Int32, name: String)], path: String) throws -> ListeningSocket? {
        guard let socket = passed.first(where: { ServiceManager.isListeningSeqpacket($0.fd) }) else { return nil }
        let fd = FileDescriptor(owning: socket.fd)
        _ = fcntl(fd.raw, F_SETFD, FD_CLOEXEC)
        try fd.setNonBlocking()
        return ListeningSocket(fd: fd, path: path, inherited: true)
    }

    /// Binds `path` (mode 0660), creating its directory; a stale socket left by a dead daemon
    /// is replaced, a live one is an error.
    static func bind(path: String) throws -> ListeningSocket {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty { try makeDirectories(dir) }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemError("bind(\(path))", errno: EEXIST, hint: "the path exists and is not a socket; remove it or pass --socket PATH")
            }
            let probe = try UnixSocket.seqpacket()
            if (try? UnixSocket.connect(probe, path: path)) != nil {
                throw SystemError("bind(\(path))", errno: EADDRINUSE, hint: "another captured is listening there; stop it or pass --socket PATH")
            }
            unlink(path)
        }
        let fd = try UnixSocket.seqpacket(nonBlocking: true)
        let old = umask(0o117)
        defer { umask(old) }
        try UnixSocket.bindAndListen(fd, path: path)
        return ListeningSocket(fd: fd, path: path, inherited: false)
    }

    private static func makeDirectories(_ dir: String) throws {
        var current = ""
        for part in dir.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw SystemError("mkdir(\(current))").hinting("create it, or pass --socket PATH in a writable directory")
            }
        }
    }

    func close() {
        fd.close()
        if !inherited { unlink(path) }
    }
}
