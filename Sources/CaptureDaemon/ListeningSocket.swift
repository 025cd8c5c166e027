#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import Foundation

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

    /// The listening socket systemd passed (capture.socket); systemd owns its path.
    convenience init(inherited fd: FileDescriptor, path: String) throws {
        _ = fcntl(fd.raw, F_SETFD, FD_CLOEXEC)
        try fd.setNonBlocking()
        self.init(fd: fd, path: path, inherited: true)
    }

    /// Binds `path` (mode 0660), creating its directory; a stale socket left by a dead daemon
    /// is replaced, a live one is an error.
    static func bind(path: String) throws -> ListeningSocket {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw StartupError(description: "cannot create \(dir) for the socket (\(error)); create it, or pass --socket PATH in a writable directory")
            }
        }
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

    func close() {
        fd.close()
        if !inherited { unlink(path) }
    }
}
