import CaptureSystem

/// Sends and receives whole protocol messages on a SOCK_SEQPACKET socket.
public enum MessageSocket {
    public enum Incoming {
        case message(Message, fds: [Int32])
        /// Undecodable input; `fds` (if any) still belong to the caller.
        case invalid(ProtocolError, fds: [Int32])
        case closed
        case wouldBlock
    }

    /// Receives one packet; oversized packets come back as `.invalid(.tooLarge)`.
    public static func receive(_ fd: FileDescriptor, blocking: Bool) throws -> Incoming {
        switch try UnixSocket.receive(fd, capacity: CaptureProtocol.maxMessageBytes + 1, blocking: blocking) {
        case .closed: return .closed
        case .wouldBlock: return .wouldBlock
        case .message(let r):
            if r.truncated || r.bytes.count > CaptureProtocol.maxMessageBytes {
                return .invalid(.tooLarge(r.bytes.count), fds: r.fds)
            }
            do {
                return .message(try Message.decode(r.bytes), fds: r.fds)
            } catch {
                return .invalid(error, fds: r.fds)
            }
        }
    }

    /// Sends one message, optionally passing descriptors (the receiver gets duplicates).
    public static func send(_ fd: FileDescriptor, _ message: Message, passing fds: [Int32] = [], blocking: Bool = true) throws -> UnixSocket.SendResult {
        try UnixSocket.send(fd, message.encode(), passing: fds, blocking: blocking)
    }
}
