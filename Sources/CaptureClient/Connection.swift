#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureRing
import CaptureSystem

/// One session with the daemon: the socket, the Welcome, the read-only mapping of the ring and,
/// in latest mode, the doorbell. It owns its socket and doorbell (closed by `close()`, or when
/// the last reference goes); the mapping lives as long as any frame of this session holds its
/// RingReader, so frames stay readable after the session ends.
final class Connection: Sendable {
    let socket: FileDescriptor
    let welcome: Welcome
    let ring: RingReader
    /// Numbers the sessions of one client (reconnects start a new one).
    let generation: Int
    /// Latest and self-serve lease mode: what the device rings for every frame, an eventfd or a
    /// pipe (nil: Frames messages).
    let doorbell: FileDescriptor?
    /// Self-serve lease mode: this client's holds page (PROTOCOL.md §5.2), mapped read-write.
    let holds: HoldsPage?

    /// Connects to `socketPath` and says `hello`.
    static func open(socketPath: String, hello: Message, generation: Int) throws -> Connection {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        return try Connection(handshakeOn: socket, hello: hello, generation: generation)
    }

    /// Says `hello` on a connected socket, takes the Welcome and maps the ring it carries.
    convenience init(handshakeOn socket: FileDescriptor, hello: Message, generation: Int) throws {
        try Self.sayHello(socket, hello)
        try self.init(welcomeOn: socket, generation: generation)
    }

    /// socket(2), connect(2) and Hello, without waiting for the answer (a reconnecting client
    /// goes on reading its old ring meanwhile).
    static func begin(socketPath: String, hello: Message) throws -> FileDescriptor {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        try sayHello(socket, hello)
        return socket
    }

    private static func sayHello(_ socket: FileDescriptor, _ hello: Message) throws {
        do {
            _ = try MessageSocket.send(socket, hello)
        } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
            // Refused at accept (allow-list, too many clients): the reason is waiting to be read.
        }
    }

    /// Takes the Welcome on a socket that said Hello, and maps the ring it carries.
    init(welcomeOn socket: FileDescriptor, generation: Int) throws {
        let (reply, received) = try Connection.receiveReply(socket, expecting: "Welcome") // closed on any exit below
        guard case .welcome(let welcome) = reply else {
            throw CaptureClientError.protocolViolation("expected Welcome, got \(reply.type)")
        }
        let expected = 1 + (welcome.doorbell ? 1 : 0) + (welcome.selfServe ? 1 : 0)
        guard received.count == expected, !welcome.selfServe || welcome.doorbell else {
            throw CaptureClientError.protocolViolation("Welcome carried \(received.count) descriptors, expected \(expected) (the ring's memfd\(welcome.doorbell ? ", a doorbell" : "")\(welcome.selfServe ? ", a holds page" : ""))")
        }
        defer { received[0].close() } // the mapping keeps the ring; its descriptor is not needed
        let ring = try RingReader(memfd: received[0])
        guard UInt64(ring.geometry.ringBytes) == welcome.ringBytes else {
            throw CaptureClientError.protocolViolation("Welcome says the ring has \(welcome.ringBytes) bytes, the memfd has \(ring.geometry.ringBytes)")
        }
        let bell = welcome.doorbell ? received[1] : nil
        try bell?.setNonBlocking() // drained until it would block
        let holds = welcome.selfServe ? try HoldsPage(memfd: received[2]) : nil
        guard holds?.isValid ?? true else { throw CaptureClientError.protocolViolation("the holds page has no CAPHOLD1 magic") }
        self.socket = socket
        self.welcome = welcome
        self.ring = ring
        self.generation = generation
        doorbell = bell
        self.holds = holds
    }

    /// The daemon's answer to a request: an Error becomes `.refused`, a closed socket
    /// `.daemonGone`, undecodable bytes `.protocolViolation`.
    static func receiveReply(_ socket: FileDescriptor, expecting: String) throws -> (Message, [FileDescriptor]) {
        switch try MessageSocket.receive(socket, blocking: true) {
        case .message(.error(let code, let text), _):
            throw CaptureClientError.refused(code, text)
        case .message(let message, let fds):
            return (message, fds)
        case .invalid(let error, _):
            throw CaptureClientError.protocolViolation(error.description)
        case .closed, .wouldBlock:
            throw CaptureClientError.daemonGone("connection closed before \(expecting)")
        }
    }

    /// One message without blocking; nil when there is none. Descriptors are never expected
    /// after the Welcome: any that come are dropped, which closes them.
    func receive() throws -> Message? {
        switch try MessageSocket.receive(socket, blocking: false) {
        case .wouldBlock: return nil
        case .closed: throw CaptureClientError.daemonGone("the connection was closed")
        case .invalid(let e, _): throw CaptureClientError.protocolViolation(e.description)
        case .message(let message, _): return message
        }
    }

    /// Closes the socket and the doorbell; frames keep the ring mapped.
    func close() {
        socket.close()
        doorbell?.close()
    }

    /// shutdown(2): wakes any thread blocked on the socket without closing it under it.
    func shutdown() { UnixSocket.shutdown(socket) }
}
