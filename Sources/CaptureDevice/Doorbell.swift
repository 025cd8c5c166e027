import CaptureRing
import CaptureSystem
import Synchronization

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
    /// A self-serve client's holds page: its `examined` says how far the client has looked.
    let reader: HoldsPage?
    /// The sequence of the frame the bell was last rung for (the ringing thread's alone).
    private let rungFor = Atomic<UInt64>(0)

    init(clientEnd: FileDescriptor, writeEnd: FileDescriptor?, reader: HoldsPage? = nil) {
        self.clientEnd = clientEnd
        self.writeEnd = writeEnd
        self.reader = reader
    }

    /// A pipe for a device that rings from userspace.
    static func pipe(reader: HoldsPage? = nil) throws -> Doorbell {
        let (read, write) = try UnixPipe.make()
        return Doorbell(clientEnd: read, writeEnd: write, reader: reader)
    }

    /// Rings a pipe doorbell without blocking, for the frame `sequence`, already published
    /// (head stored, then a sequentially consistent fence). A reader that has not looked past
    /// the frame it was last rung for is not rung again: it is awake, or its bell is still
    /// readable, and either way it reads the head before it sleeps (it stores `examined`, then
    /// fences, then reads the head: it sees this frame, or this thread saw its `examined`).
    /// A write less per frame for a client that keeps busy. A reader that lies about
    /// `examined` only delays its own wake-ups.
    func ring(after sequence: UInt64) {
        guard let writeEnd else { return }
        if let reader {
            let last = rungFor.load(ordering: .relaxed)
            if last != 0 && reader.examined < last { return }
            rungFor.store(sequence, ordering: .relaxed)
        }
        UnixPipe.poke(writeEnd)
    }
}
