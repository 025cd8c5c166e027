#if canImport(Glibc)
import Glibc
#endif

/// Where captured listens, and clients connect, by default: $CAPTURE_SOCKET when set, else
/// /run/capture/capture.sock for root, else $XDG_RUNTIME_DIR/capture/capture.sock (falling back
/// to /tmp/capture-UID/capture.sock). libcapture's default is the same.
public enum SocketPath {
    public static var `default`: String {
        if let env = getenv("CAPTURE_SOCKET"), let path = String(validatingCString: env), !path.isEmpty { return path }
        if getuid() == 0 { return "/run/capture/capture.sock" }
        if let xdg = getenv("XDG_RUNTIME_DIR"), let dir = String(validatingCString: xdg), !dir.isEmpty {
            return dir + "/capture/capture.sock"
        }
        return "/tmp/capture-\(getuid())/capture.sock"
    }
}
