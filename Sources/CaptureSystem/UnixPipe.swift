#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// pipe(2): a one-way byte channel whose two ends have separate open file descriptions, so
/// whoever holds one end cannot change the other end's flags.
public enum UnixPipe {
    /// pipe2(O_CLOEXEC | O_NONBLOCK).
    public static func make() throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        try retryingInterrupts("pipe2") { capture_pipe(&fds) }
        return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
    }

    /// write(2) of one byte without blocking; a full pipe already says "something happened".
    public static func poke(_ writeEnd: FileDescriptor) {
        var byte: UInt8 = 1
        _ = Glibc.write(writeEnd.raw, &byte, 1)
    }
}
