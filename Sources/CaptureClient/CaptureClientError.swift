import CaptureProtocol

public enum CaptureClientError: Error, CustomStringConvertible, Equatable {
    /// The daemon closed the connection (stopped, restarted or crashed). Mappings stay valid.
    case daemonGone(String)
    /// The daemon answered with an Error and closed the connection.
    case refused(ErrorCode, String)
    /// The stream's device went away (unplugged, driver unbound); the daemon goes on.
    case streamDetached(String)
    /// The daemon sent something this library does not understand.
    case protocolViolation(String)
    case timedOut

    public var description: String {
        switch self {
        case .daemonGone(let why): return "captured went away: \(why)"
        case let .refused(code, text): return "captured refused: \(code): \(text)"
        case .streamDetached(let why): return "stream detached: \(why)"
        case .protocolViolation(let why): return "protocol violation from captured: \(why)"
        case .timedOut: return "timed out waiting for captured"
        }
    }
}
