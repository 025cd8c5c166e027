#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import CSystemd

/// The daemon's side of systemd's service protocol (sd_notify(3), sd_listen_fds(3),
/// sd_watchdog_enabled(3)). Every call is a no-op when not run by systemd.
enum ServiceManager {
    /// sd_notify(0, state): READY=1, STATUS=…, WATCHDOG=1, STOPPING=1.
    static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// sd_pid_notify_with_fds: FDSTORE=1 with a name, so the descriptor comes back on restart.
    @discardableResult
    static func store(_ fd: FileDescriptor, name: String) -> Bool {
        var fds = [fd.raw]
        return sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(name)", &fds, 1) > 0
    }

    /// FDSTOREREMOVE=1 for a name we no longer want kept.
    static func forget(name: String) {
        _ = sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)")
    }

    /// The watchdog interval systemd expects pings within, if WatchdogSec= is set for us.
    static var watchdogInterval: UInt64? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 ? usec * 1000 : nil
    }

    /// Descriptors passed by systemd (sockets and the fd store), with their names, owned by the
    /// caller from now on; the LISTEN_* variables are consumed so children do not see them.
    static func passedDescriptors() -> [(fd: FileDescriptor, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(1, &names)
        guard n > 0 else { return [] }
        defer {
            if let names {
                for i in 0..<Int(n) { free(names[i]) }
                free(names)
            }
        }
        return (0..<Int(n)).map { i in
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            return (FileDescriptor(owning: SD_LISTEN_FDS_START + Int32(i)), name)
        }
    }

    /// sd_is_socket(fd, AF_UNIX, SOCK_SEQPACKET, listening).
    static func isListeningSeqpacket(_ fd: Int32) -> Bool {
        sd_is_socket(fd, AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 1) > 0
    }
}
