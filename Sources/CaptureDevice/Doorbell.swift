import CaptureSystem

/// A client's wake-up line from the device itself (docs/PROTOCOL.md §3.2.1): the device rings
/// it right after it publishes a frame, so the client is woken once, with the daemon out of
/// the path.
///
/// `clientEnd` goes to the client with its Welcome. What the device rings is never something
/// the client can block: the synthetic device writes, without blocking, to the write end of a
/// pipe whose read end the client gets (the two ends are separate open file descriptions); the
/// kernel driver signals an eventfd from the kernel, which never waits. Owned by the stream
/// that made it; its descriptors close when the last reference goes, after the device let go
/// (`CaptureDevice.removeDoorbell`).
public final class Doorbell: Sendable {
    public let clientEnd: FileDescriptor
    /// The synthetic device's end (nil for the driver's eventfd, which is `clientEnd` itself).
    let writeEnd: FileDescriptor?

    init(clientEnd: FileDescriptor, writeEnd: FileDescriptor?) {
        self.clientEnd = clientEnd
        self.writeEnd = writeEnd
    }

    /// A pipe for a device that rings from userspace.
    static func pipe() throws -> Doorbell {
        let (read, write) = try UnixPipe.make()
        return Doorbell(clientEnd: read, writeEnd: write)
    }

    /// Rings a pipe doorbell without blocking.
    func ring() {
        if let writeEnd { UnixPipe.poke(writeEnd) }
    }
}
