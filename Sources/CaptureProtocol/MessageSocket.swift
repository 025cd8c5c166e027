import CaptureSystem

/// Sends and receives whole protocol messages on a SOCK_SEQPACKET socket.
public enum MessageSocket {
    public enum Incoming {
        /// A message and the descriptors that came with it (owned: they close when dropped).
        case message(Message, fds: [FileDescriptor])
        /// Undecodable input, and whatever descriptors came with it.
        case invalid(ProtocolError, fds: [FileDescriptor])
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
    public static func send(_ fd: FileDescriptor, _ message: Message, passing fds: [FileDescriptor] = [], blocking: Bool = true) throws -> UnixSocket.SendResult {
        try UnixSocket.send(fd, message.encode(), passing: fds, blocking: blocking)
    }
}
